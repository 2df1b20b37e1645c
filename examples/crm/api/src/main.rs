//! `cargo run -p crm-api`: serves the CRM on 127.0.0.1:8000 against `DATABASE_URL`; tenants
//! are subdomains of `CRM_DOMAIN` (default `crm.localhost`): `curl -H 'Host:
//! acme.crm.localhost:8000' http://127.0.0.1:8000/contacts`.

#[tokio::main]
async fn main() {
    if let Err(err) = crm_api::start().await {
        eprintln!("crm-api: {err}");
        std::process::exit(1);
    }
}
