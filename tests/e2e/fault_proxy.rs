//! A TCP proxy between `accesskeyd` and its database that misbehaves on
//! demand, as networks and database hosts do: it can go silent (a black
//! hole: nothing is lost, nothing arrives, as when a route drops packets
//! and TCP keeps retransmitting), add latency, and cut every connection
//! with a reset.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// What the proxy does to the traffic passing through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Passes everything at once.
    None,
    /// Holds everything (new connections too) until the fault ends, then
    /// delivers it: a silent database, or a dropped network path.
    BlackHole,
    /// Delays every chunk by this much, each way.
    Delay(Duration),
}

#[derive(Debug)]
struct State {
    fault: Fault,
    /// Bumped by [`FaultProxy::cut`]: connections opened before it end.
    cuts: u64,
}

/// The proxy; stops when dropped.
pub struct FaultProxy {
    pub address: SocketAddr,
    state: Arc<watch::Sender<State>>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on an ephemeral loopback port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let address = listener.local_addr().expect("proxy address");
        let state = Arc::new(watch::Sender::new(State {
            fault: Fault::None,
            cuts: 0,
        }));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, Arc::clone(&shared)));
            }
        });
        Self {
            address,
            state,
            task,
        }
    }

    /// The URL `database_url` with its host and port replaced by the proxy's.
    pub fn route(&self, database_url: &str) -> String {
        let scheme_end = database_url.find("://").expect("a URL") + 3;
        let rest = &database_url[scheme_end..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let userinfo = authority.rfind('@').map_or("", |at| &authority[..=at]);
        format!(
            "{}{userinfo}{}{}",
            &database_url[..scheme_end],
            self.address,
            &rest[authority_end..]
        )
    }

    pub fn set(&self, fault: Fault) {
        self.state.send_modify(|state| state.fault = fault);
    }

    /// Resets every connection open now (new ones are served as usual).
    pub fn cut(&self) {
        self.state.send_modify(|state| state.cuts += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

/// The host and port of `database_url`.
pub fn upstream_of(database_url: &str) -> SocketAddr {
    let scheme_end = database_url.find("://").expect("a URL") + 3;
    let rest = &database_url[scheme_end..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host_port = authority.rsplit('@').next().expect("an authority");
    host_port
        .parse()
        .expect("host:port as an IP address and port")
}

/// One client connection, until either side closes or a cut.
async fn relay(mut client: TcpStream, upstream: SocketAddr, state: Arc<watch::Sender<State>>) {
    let mut watching = state.subscribe();
    let cuts = watching.borrow().cuts;
    // A black hole swallows the connection attempt too.
    if passable(&mut watching, cuts).await.is_none() {
        let _ = client.set_zero_linger();
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let ended = {
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        // Whichever direction ends first ends the connection.
        tokio::select! {
            ended = pump(&mut client_read, &mut server_write, state.subscribe(), cuts) => ended,
            ended = pump(&mut server_read, &mut client_write, state.subscribe(), cuts) => ended,
        }
    };
    if ended == Ended::Cut {
        // Closed with a reset, on both sides, as a failing network does.
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Closed,
    Cut,
}

/// Copies `from` to `to` under the current fault, until either side
/// closes or the connection is cut.
async fn pump(
    from: &mut tokio::net::tcp::ReadHalf<'_>,
    to: &mut tokio::net::tcp::WriteHalf<'_>,
    mut watching: watch::Receiver<State>,
    cuts: u64,
) -> Ended {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            () = cut(&mut watching, cuts) => return Ended::Cut,
        };
        let Ok(count) = read else {
            return Ended::Closed;
        };
        if count == 0 {
            return Ended::Closed;
        }
        let Some(delay) = passable(&mut watching, cuts).await else {
            return Ended::Cut;
        };
        if !delay.is_zero() {
            // The delay is the fault this proxy injects, not a wait.
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = cut(&mut watching, cuts) => return Ended::Cut,
            }
        }
        if to.write_all(&buffer[..count]).await.is_err() {
            return Ended::Closed;
        }
    }
}

/// Waits while the proxy is a black hole; then the delay to add, or `None`
/// if the connection was cut meanwhile.
async fn passable(watching: &mut watch::Receiver<State>, cuts: u64) -> Option<Duration> {
    let state = watching
        .wait_for(|state| state.cuts != cuts || state.fault != Fault::BlackHole)
        .await
        .ok()?;
    if state.cuts != cuts {
        return None;
    }
    Some(match state.fault {
        Fault::Delay(delay) => delay,
        Fault::None | Fault::BlackHole => Duration::ZERO,
    })
}

/// Resolves when the connection is cut.
async fn cut(watching: &mut watch::Receiver<State>, cuts: u64) {
    let _ = watching.wait_for(|state| state.cuts != cuts).await;
}
