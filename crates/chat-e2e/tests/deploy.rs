//! The deployment as a user builds it: two nodes sharing PostgreSQL and Redis behind
//! nginx running `deploy/nginx.conf` with TLS (a throwaway certificate), two Chromium
//! browsers on `https://`, each app connecting over `wss://` on its own to a different
//! node; then one node is drained and restarted under traffic, and both browsers show
//! every message exactly once.
#![allow(clippy::unwrap_used)]

mod common;

use chat_server::Config;
use common::{Driver, Peer, TempDir, TestServer, WAIT, enter, say, texts, wait_for_text};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NGINX: &str = "/usr/sbin/nginx";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const REDIS: &str = "redis://127.0.0.1:6379";
const TEXTS: &str = ".message .text";

/// Skips (or, under `CI`, fails) when something the test needs is not on this machine.
fn missing(what: &str) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{what} is required when CI is set");
    }
    eprintln!("skipping the deployment test: {what} is missing (just setup-deploy)");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh PostgreSQL schema's URL, or `None` without PostgreSQL.
async fn fresh_schema() -> Option<String> {
    let pool =
        match tokio::time::timeout(Duration::from_secs(5), sqlx::PgPool::connect(POSTGRES)).await {
            Ok(Ok(pool)) => pool,
            _ => return None,
        };
    let schema = format!("chat_e2e_deploy_{}", std::process::id());
    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    sqlx::query(sqlx::AssertSqlSafe(drop))
        .execute(&pool)
        .await
        .unwrap();
    let create = format!("CREATE SCHEMA {schema}");
    sqlx::query(sqlx::AssertSqlSafe(create))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    Some(format!("{POSTGRES}?options=-c%20search_path%3D{schema}"))
}

async fn redis_answers() -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect("127.0.0.1:6379").await else {
        return false;
    };
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").await.is_ok()
        && stream.read_exact(&mut reply).await.is_ok()
        && &reply == b"+PONG\r\n"
}

/// `deploy/nginx.conf` made to run here: the lines it marks `# test:` point at the two
/// nodes, a free port and the throwaway certificate; IPv6 listeners (not every test
/// machine has IPv6) are dropped. Panics if a marked line is gone, so the shipped file
/// and this test cannot drift apart.
fn site_config(nodes: [SocketAddr; 2], http: u16, https: u16, tls: &Path) -> String {
    let shipped =
        std::fs::read_to_string(common::workspace_dir().join("deploy/nginx.conf")).unwrap();
    let mut out = String::new();
    let mut seen = Vec::new();
    let mut lines = shipped.lines();
    while let Some(line) = lines.next() {
        let Some((_, mark)) = line.split_once("# test: ") else {
            if !line.trim_start().starts_with("listen [::]") {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        };
        seen.push(mark.trim().to_owned());
        let replacement = match mark.trim() {
            "nodes" => {
                lines.next(); // the second node's line
                nodes
                    .iter()
                    .map(|node| format!("    server {node} max_fails=1 fail_timeout=5s;"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            "http" => format!("    listen 127.0.0.1:{http};"),
            "https" => format!("    listen 127.0.0.1:{https} ssl http2;"),
            "name" => "    server_name 127.0.0.1;".to_owned(),
            "cert" => format!("    ssl_certificate {};", tls.join("cert.pem").display()),
            "key" => format!("    ssl_certificate_key {};", tls.join("key.pem").display()),
            other => panic!("unknown mark {other:?} in deploy/nginx.conf"),
        };
        out.push_str(&replacement);
        out.push('\n');
    }
    for mark in ["nodes", "http", "https", "name", "cert", "key"] {
        assert!(
            seen.iter().any(|s| s == mark),
            "deploy/nginx.conf lost `# test: {mark}`"
        );
    }
    out
}

/// nginx in the foreground with everything (pid, logs, temp files) under `dir`.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, site: &str, https: u16) -> Nginx {
        std::fs::write(dir.join("site.conf"), site).unwrap();
        let main = format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/client;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             include {d}/site.conf;\n}}\n",
            d = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        // Workers run as nobody when nginx starts as root: they need to reach the temp
        // folders.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let child = Command::new(NGINX)
            .args(["-p", &dir.display().to_string()])
            .args(["-c", &dir.join("nginx.conf").display().to_string()])
            .args(["-e", &dir.join("error.log").display().to_string()])
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx");
        let mut nginx = Nginx {
            child,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", https)).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}): {}", nginx.log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                nginx.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for 127.0.0.1, valid for a day.
fn throwaway_certificate(dir: &Path) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl could not make a certificate");
}

/// Open WebSocket connections of a node, from its `/metrics`.
async fn sockets_on(node: SocketAddr) -> u64 {
    let (_, body) = common::http_get(node, "/metrics", &[]).await;
    body.lines()
        .find_map(|l| l.strip_prefix("chat_connections "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_over_tls_on_two_nodes_lose_nothing_when_one_restarts() {
    if !Path::new(NGINX).exists() {
        return missing("nginx");
    }
    let Some(database_url) = fresh_schema().await else {
        return missing(&format!("PostgreSQL at {POSTGRES}"));
    };
    if !redis_answers().await {
        return missing(&format!("Redis at {REDIS}"));
    }
    let namespace = format!("e2e-deploy-{}-{}", std::process::id(), free_port());
    let node_config = move |config: &mut Config| {
        config.static_dir = None; // the app embedded in the binary
        config.database_url = database_url.clone();
        config.redis_url = Some(REDIS.to_owned());
        config.redis_namespace = namespace.clone();
        config.trust_proxy = true;
        config.rate_per_sec = 0;
    };
    let any = "127.0.0.1:0".parse().unwrap();
    let mut servers = Vec::new();
    for name in ["a", "b"] {
        let server = TestServer::start_configured(any, TempDir::new(name), node_config.clone());
        servers.push(Some(server.await));
    }
    let nodes: Vec<SocketAddr> = servers.iter().flatten().map(|s| s.addr).collect();
    let node_addrs = [nodes[0], nodes[1]];

    let tls = TempDir::new("nginx");
    throwaway_certificate(tls.path());
    let https = free_port();
    let site = site_config(node_addrs, free_port(), https, tls.path());
    let nginx = Nginx::start(tls.path(), &site, https);
    let url = format!("https://127.0.0.1:{https}/");

    let driver = Driver::start().await;
    let ada = driver.browser_trusting_any_certificate(1000, 800).await;
    let bob = driver.browser_trusting_any_certificate(1000, 800).await;
    enter(&ada, &url, "Ada", "lobby").await;
    let scheme = common::script(&ada, "return location.protocol;").await;
    assert_eq!(scheme, "https:", "the page came over TLS");
    let counts = wait_for_sockets(&nodes, |counts| counts.iter().sum::<u64>() == 1).await;
    let adas_node = counts.iter().position(|&n| n == 1).unwrap();
    let other = 1 - adas_node;
    enter(&bob, &url, "Bob", "lobby").await;
    // least_conn usually sends Bob's socket to the node without Ada's, but not always:
    // his page's own requests count while they last. Either way the restart below
    // takes Ada's node away; Bob moves too if he shared it.
    wait_for_sockets(&nodes, |counts| counts.iter().sum::<u64>() == 2).await;
    say(&ada, "hello over wss").await;
    wait_for_text(&bob, TEXTS, "hello over wss").await;

    // Traffic through the node that stays, while Ada's is drained (SIGTERM's path:
    // what was sent is stored, sockets close with 1001) and started again: Ada's app
    // reconnects through nginx to the other node and catches up.
    let mut sender = Peer::connect(nodes[other], "Sender").await;
    sender.join("lobby").await;
    let total = 60;
    let mut stopped = None;
    for i in 1..=total {
        sender.say("lobby", &format!("m{i}")).await;
        if i == 20 {
            let server = servers[adas_node].take().unwrap();
            stopped = Some(server.stop().await);
        }
        if i == 40 {
            // Ada is back, on the other node (with Bob and the sender), before hers
            // returns.
            wait_for_sockets(&nodes[other..=other], |counts| counts == [3]).await;
            let (addr, dir) = stopped.take().unwrap();
            let server = TestServer::start_configured(addr, dir, node_config.clone()).await;
            servers[adas_node] = Some(server);
        }
        // Pacing, so that the restart happens under a stream rather than after a burst.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for browser in [&ada, &bob] {
        wait_for_text(browser, TEXTS, &format!("m{total}")).await;
        let shown = texts(browser, TEXTS).await;
        for i in 1..=total {
            let text = format!("m{i}");
            let times = shown.iter().filter(|t| **t == text).count();
            assert_eq!(times, 1, "{text} shown {times} times: {shown:?}");
        }
    }
    // Both can still talk, wherever they are now, and the restarted node serves again.
    say(&bob, "still here").await;
    wait_for_text(&ada, TEXTS, "still here").await;
    say(&ada, "me too").await;
    wait_for_text(&bob, TEXTS, "me too").await;
    let (status, _) = common::http_get(nodes[adas_node], "/healthz", &[]).await;
    assert_eq!(status, 200);
    assert!(!nginx.log().contains("[emerg]"), "{}", nginx.log());
}

/// Waits until the nodes' socket counts satisfy `wanted`; returns them.
async fn wait_for_sockets(nodes: &[SocketAddr], wanted: impl Fn(&[u64]) -> bool) -> Vec<u64> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut counts = Vec::new();
        for node in nodes {
            counts.push(sockets_on(*node).await);
        }
        if wanted(&counts) {
            return counts;
        }
        assert!(Instant::now() < deadline, "sockets per node: {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `deploy/compose.nginx.conf` is `deploy/nginx.conf` with the nodes' names of
/// `deploy/compose.yaml`: the two cannot drift apart.
#[test]
fn the_compose_nginx_config_is_the_shipped_one_with_compose_names() {
    let dir = common::workspace_dir().join("deploy");
    let shipped = std::fs::read_to_string(dir.join("nginx.conf")).unwrap();
    let compose = std::fs::read_to_string(dir.join("compose.nginx.conf")).unwrap();
    let expected: String = shipped
        .lines()
        .filter(|l| !l.contains("`# test:` are") && !l.contains("this very file"))
        .map(|l| {
            l.replace(
                "server 127.0.0.1:3001 max_fails=1 fail_timeout=5s; # test: nodes",
                "server node1:3000 max_fails=1 fail_timeout=5s;",
            )
            .replace("server 127.0.0.1:3002", "server node2:3000")
        })
        .map(|l| l + "\n")
        .collect();
    assert_eq!(compose, expected, "regenerate deploy/compose.nginx.conf");
}
