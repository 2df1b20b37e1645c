//! A private, throwaway PostgreSQL cluster for fault injection: crash it, stop it, restart it,
//! fill its connection slots, without touching the shared server of the other tests.
//!
//! [`PrivateCluster::start`] runs `initdb` into a fresh directory under the system temp dir and
//! `pg_ctl start` on a free loopback port; dropping the value stops it (`-m immediate`) and
//! removes the directory, also when the test panics. PostgreSQL refuses to run as root, so
//! when the tests run as root the cluster belongs to the `postgres` OS user (`runuser`).
//! The binaries come from `PG_BIN`, else `/usr/lib/postgresql/15/bin`, else `pg_config
//! --bindir`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How to run the cluster's programs: the binaries' directory and whether to switch to the
/// `postgres` user. Cheap to clone, so a fault can be injected from inside a migration or a
/// progress callback.
#[derive(Debug, Clone)]
pub struct ClusterCtl {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    as_postgres: bool,
}

impl ClusterCtl {
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        self.command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("pg_ctl {args:?}: {e}"))
    }

    /// An immediate shutdown: every server process quits at once, without a checkpoint and
    /// without flushing WAL still in shared memory, as in a crash. The cluster stays down.
    pub fn crash(&self) {
        self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "20"]);
    }

    /// Starts the (stopped) cluster again and waits until it accepts connections; after a
    /// crash this includes crash recovery.
    pub fn start(&self) {
        let log = self.log.to_string_lossy().into_owned();
        let out = self.pg_ctl(&["start", "-w", "-t", "30", "-l", &log]);
        if !out.status.success() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!(
                "pg_ctl start failed: {}\n{}\n{log}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Sends `signal` (e.g. `"STOP"`, `"KILL"`) to a process of the cluster.
pub fn signal(pid: i32, signal: &str) {
    let status = Command::new("kill")
        .arg("-s")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .unwrap_or_else(|e| panic!("kill -s {signal} {pid}: {e}"));
    assert!(status.success(), "kill -s {signal} {pid}: {status}");
}

/// A PostgreSQL cluster of one test's own.
#[derive(Debug)]
pub struct PrivateCluster {
    /// The directory holding the data directory, the socket and the log.
    pub dir: PathBuf,
    /// The loopback TCP port it listens on.
    pub port: u16,
    ctl: ClusterCtl,
}

fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let debian = Path::new("/usr/lib/postgresql/15/bin");
    if debian.join("initdb").exists() {
        return debian.to_owned();
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("no PostgreSQL binaries: set PG_BIN");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl PrivateCluster {
    /// Initialises and starts a cluster; `settings` are extra `postgresql.conf` lines.
    pub fn start(label: &str, settings: &[&str]) -> PrivateCluster {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "sea_tenant_pg_{label}_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos % 100_000
        ));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let as_postgres = running_as_root();
        let ctl = ClusterCtl {
            bin: pg_bin(),
            data: dir.join("data"),
            log: dir.join("server.log"),
            as_postgres,
        };
        // From here on, Drop removes the directory.
        let mut cluster = PrivateCluster { dir, port: 0, ctl };
        if as_postgres {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&cluster.dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown postgres {}", cluster.dir.display());
        }
        let out = cluster
            .ctl
            .command("initdb")
            .arg("-D")
            .arg(&cluster.ctl.data)
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
            .args(["--locale", "C"])
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.port = free_port();
        let mut conf = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             shared_buffers = 16MB\nmax_wal_size = 64MB\n",
            cluster.port,
            cluster.dir.display()
        );
        for line in settings {
            conf += line;
            conf += "\n";
        }
        let path = cluster.ctl.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("postgresql.conf");
        text += &conf;
        std::fs::write(&path, text).expect("write postgresql.conf");
        cluster.ctl.start();
        cluster
    }

    /// A URL for `database` (as the `postgres` superuser).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A handle that can crash and restart the cluster from anywhere.
    pub fn ctl(&self) -> ClusterCtl {
        self.ctl.clone()
    }

    /// See [`ClusterCtl::crash`].
    pub fn crash(&self) {
        self.ctl.crash();
    }

    /// See [`ClusterCtl::start`].
    pub fn start_again(&self) {
        self.ctl.start();
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if self.ctl.data.join("postmaster.pid").exists() {
            self.ctl.crash();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
