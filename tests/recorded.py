"""A deterministic, realistic recorded data set for the TUI tests, snapshot tests and screenshots.

A small web host: nginx serving IPv4, IPv6 and IPv4-mapped clients, an app talking to postgres, sshd, a DNS
stub resolver, chronyd, Unix sockets (paths and abstract names), TIME_WAIT leftovers without owners, a bulk
transfer under BBR with a long process name, a 3.9 MB send queue and its socket shared with a child, and a
process whose name and cmdline carry markup and terminal escapes. Three snapshots two seconds apart: between
them a connection opens, one changes state, one closes, and byte counters advance (so rates are non-zero).

``with_namespaces`` shows a snapshot as a container host would: a Redis container in a network namespace of its
own beside the host's, processes in their systemd units. ``synthetic_snapshot(n)`` builds a large snapshot (any
size) for scale measurements.
"""

from __future__ import annotations

from dataclasses import replace

from netwatch.backends.model.containers import Container, container_of
from netwatch.backends.model.names import UNCONN
from netwatch.backends.model.namespaces import HOST, INIT_NET_INODE, Namespace
from netwatch.backends.model.records import MemInfo, Owner, Process, SkMemInfo, Socket, Timer
from netwatch.backends.model.snapshot import OwnerVisibility, Snapshot
from netwatch.backends.model.tcp_info import TcpInfo
from netwatch.backends.sources.netlink.attributes import bbr_info

T0 = 1767225600.0  # 2026-01-01 00:00:00 UTC
STEP = 2.0
EVIL_NAME = "[red]evil\x1b[2J"
EVIL_PID = 6666
BULK_PID = 6643
BULK_COOKIE = 800
LONG_PATH = "/var/lib/containers/storage/overlay/4f1c2a9e/merged/run/ux-bulk/control.sock"

PROCESSES = {
    1: Process(1, "systemd", ("/sbin/init",), 0, "root", "/init.scope"),
    612: Process(612, "systemd-resolve", ("/lib/systemd/systemd-resolved",), 991, "systemd-resolve",
                 "/system.slice/systemd-resolved.service"),
    701: Process(701, "chronyd", ("/usr/sbin/chronyd", "-F", "1"), 0, "_chrony", "/system.slice/chrony.service"),
    812: Process(812, "sshd", ("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",), 0, "root",
                 "/system.slice/ssh.service", ppid=1),
    903: Process(903, "postgres", ("/usr/lib/postgresql/16/bin/postgres", "-D", "/var/lib/postgresql/16/main"),
                 114, "postgres", "/system.slice/postgresql@16-main.service"),
    1204: Process(1204, "nginx", ("nginx: worker process",), 33, "www-data", "/system.slice/nginx.service"),
    1205: Process(1205, "nginx", ("nginx: worker process",), 33, "www-data", "/system.slice/nginx.service"),
    2310: Process(2310, "python3", ("/srv/app/.venv/bin/python3", "-m", "gunicorn", "app:wsgi", "-w", "2"),
                  1000, "app", "/system.slice/app.service"),
    3120: Process(3120, "sshd", ("sshd: alice@pts/0",), 1001, "alice", "/user.slice/user-1001.slice/session-4.scope",
                  ppid=812),
    BULK_PID: Process(BULK_PID, "ux-bulk-transfer", ("/opt/ux/bin/ux-bulk-transfer", "--to", "10.20.0.77"), 1000,
                      "app", "/system.slice/ux-bulk.service", ppid=1),
    BULK_PID + 1: Process(BULK_PID + 1, "ux-bulk-transfer", ("/opt/ux/bin/ux-bulk-transfer", "--child"), 1000,
                          "app", "/system.slice/ux-bulk.service", ppid=BULK_PID),
    EVIL_PID: Process(EVIL_PID, EVIL_NAME, ("/tmp/[bold]x", "--title=\x1b]0;pwned\x07", "\u202eevil"), 1002,
                      "mallory", "/user.slice/user-1002.slice/[blink]session-9.scope"),
}


def tcp_info(state: int = 1, **values: int) -> TcpInfo:
    """A TcpInfo with realistic defaults for an established loopback/LAN connection, overridden by ``values``."""
    base = dict.fromkeys(TcpInfo._fields, 0)
    base.update(
        state=state, ca_state=0, options=7, snd_wscale=7, rcv_wscale=7, rto=204_000, ato=40_000, snd_mss=1448,
        rcv_mss=1448, pmtu=1500, rcv_ssthresh=64_076, rtt=1_250, rttvar=400, snd_ssthresh=0x7FFFFFFF,
        snd_cwnd=10, advmss=1448, reordering=3, rcv_space=14_480, pacing_rate=23_000_000,
        max_pacing_rate=0xFFFFFFFFFFFFFFFF, min_rtt=980, delivery_rate=11_000_000, snd_wnd=64_256,
        rcv_wnd=65_535, last_data_sent=120, last_ack_sent=0, last_data_recv=118, last_ack_recv=118,
    )
    base.update(values)
    return TcpInfo(**base)


def _family(address: str) -> str:
    return "ipv6" if ":" in address else "ipv4"


def _tcp(cookie: int, local: tuple[str, int], remote: tuple[str, int], state: str, owners: tuple[Owner, ...],
         info: TcpInfo | None = None, **fields: object) -> Socket:
    defaults: dict[str, object] = dict(
        recv_q=0, send_q=0, congestion="cubic" if info is not None else None, cgroup=None, tos=0, mark=0, shutdown=0,
        skmem=SkMemInfo(0, 131_072, 0, 87_040, 0, 0, 0, 0, 0), meminfo=MemInfo(0, 0, 0, 0),
        timer=Timer("keepalive", 7_195_000, 0) if state == "ESTABLISHED" else None,
    )
    defaults.update(fields)
    return Socket(
        key=("tcp", cookie), proto="tcp", family=_family(local[0]), state=state, local_address=local[0],
        local_port=local[1], remote_address=remote[0], remote_port=remote[1],
        inode=0 if not owners else 40_000 + cookie, uid=0, cookie=cookie, owners=owners, tcp_info=info,
        **defaults,
    )


def _udp(cookie: int, local: tuple[str, int], remote: tuple[str, int], owners: tuple[Owner, ...],
         state: str = UNCONN) -> Socket:
    return Socket(
        key=("udp", cookie), proto="udp", family=_family(local[0]), state=state, local_address=local[0],
        local_port=local[1], remote_address=remote[0], remote_port=remote[1], recv_q=0, send_q=0,
        inode=50_000 + cookie, uid=0, cookie=cookie, owners=owners,
        skmem=SkMemInfo(0, 212_992, 0, 212_992, 0, 0, 0, 0, 0),
    )


def _unix(inode: int, path: str | None, state: str, sock_type: str, owners: tuple[Owner, ...],
          peer: int | None = None) -> Socket:
    return Socket(
        key=("unix", inode), proto="unix", family="unix", state=state, local_address="", local_port=0,
        remote_address="", remote_port=0, recv_q=0, send_q=0, inode=inode, cookie=inode, path=path,
        peer_inode=peer, sock_type=sock_type, owners=owners,
    )


def _own(pid: int, fd: int) -> tuple[Owner, ...]:
    return (Owner(pid, fd),)


_NGINX = (Owner(1204, 6), Owner(1205, 6))
_CLIENTS_V4 = ("198.51.100.23", "203.0.113.9", "192.0.2.77", "198.51.100.140", "203.0.113.201", "10.20.0.14")
_CLIENTS_V6 = ("2001:db8::1f", "2001:db8:85a3::8a2e:370:7334", "2001:db8:4::12")
_CLIENTS_MAPPED = ("::ffff:192.0.2.10", "::ffff:198.51.100.7")


def _established(cookie: int, local: tuple[str, int], remote: tuple[str, int], owners: tuple[Owner, ...],
                 step: int, send_rate: int, recv_rate: int, rtt_us: int, **extra: object) -> Socket:
    """An ESTABLISHED socket whose counters advance by the given rates each step."""
    elapsed = int(step * STEP)
    info = tcp_info(
        rtt=rtt_us + 37 * step, rttvar=rtt_us // 4, min_rtt=int(rtt_us * 0.8),
        bytes_acked=1_000_000 + send_rate * elapsed, bytes_sent=1_000_000 + send_rate * elapsed,
        bytes_received=250_000 + recv_rate * elapsed, segs_out=800 + int(send_rate * elapsed) // 1448,
        segs_in=600 + int(recv_rate * elapsed) // 1448, data_segs_out=700, data_segs_in=500,
        delivered=700, snd_cwnd=10 + step * 4, total_retrans=step if send_rate > 100_000 else 0,
        busy_time=3_400_000, notsent_bytes=0,
    )
    return _tcp(cookie, local, remote, "ESTABLISHED", owners, info, **extra)


def _sockets(step: int) -> list[Socket]:
    """Every socket on the recorded host at snapshot ``step`` (0, 1, 2)."""
    listen = tcp_info(state=10, rtt=0, rttvar=0, min_rtt=0, snd_cwnd=10, last_data_sent=0, last_data_recv=0)
    sockets = [
        _tcp(1, ("0.0.0.0", 22), ("0.0.0.0", 0), "LISTEN", _own(812, 3), listen),
        _tcp(2, ("::", 22), ("::", 0), "LISTEN", _own(812, 4), listen),
        _tcp(3, ("0.0.0.0", 80), ("0.0.0.0", 0), "LISTEN", _NGINX, listen),
        _tcp(4, ("::", 443), ("::", 0), "LISTEN", _NGINX, listen, recv_q=3, send_q=511),
        _tcp(5, ("127.0.0.1", 5432), ("0.0.0.0", 0), "LISTEN", _own(903, 5), listen),
        _tcp(6, ("::1", 5432), ("::", 0), "LISTEN", _own(903, 6), listen),
        _tcp(7, ("127.0.0.53", 53), ("0.0.0.0", 0), "LISTEN", _own(612, 13), listen),
        _tcp(8, ("127.0.0.1", 8000), ("0.0.0.0", 0), "LISTEN", _own(2310, 5), listen),
        _tcp(9, ("0.0.0.0", 31337), ("0.0.0.0", 0), "LISTEN", _own(EVIL_PID, 3), listen),
        _udp(20, ("127.0.0.53", 53), ("0.0.0.0", 0), _own(612, 12)),
        _udp(21, ("127.0.0.1", 323), ("0.0.0.0", 0), _own(701, 5)),
        _udp(22, ("::1", 323), ("::", 0), _own(701, 6)),
        _udp(23, ("10.20.0.5", 40112), ("10.20.0.1", 53), _own(612, 14), state="ESTABLISHED"),
        _established(30, ("10.20.0.5", 22), ("10.20.0.99", 51022), _own(3120, 4), step, 4_000, 900, 2_100),
    ]
    for index, client in enumerate(_CLIENTS_V4):
        sockets.append(_established(100 + index, ("10.20.0.5", 443), (client, 50_000 + index * 7), _NGINX, step,
                                    (index + 1) * 180_000, 9_000 + index * 1_000, 18_000 + index * 9_000))
    for index, client in enumerate(_CLIENTS_V6):
        sockets.append(_established(200 + index, ("2001:db8::5", 443), (client, 41_000 + index), _NGINX, step,
                                    60_000 * (index + 1), 2_000, 42_000 + index * 5_000))
    for index, client in enumerate(_CLIENTS_MAPPED):
        sockets.append(_established(250 + index, ("::ffff:10.20.0.5", 80), (client, 60_100 + index), _NGINX,
                                    step, 12_000, 800, 30_000))
    for index in range(4):  # the app's connection pool to postgres, and postgres' side of it
        sockets.append(_established(300 + index, ("127.0.0.1", 45_100 + index), ("127.0.0.1", 5432),
                                    _own(2310, 10 + index), step, 30_000, 250_000, 60))
        sockets.append(_established(400 + index, ("127.0.0.1", 5432), ("127.0.0.1", 45_100 + index),
                                    _own(903, 10 + index), step, 250_000, 30_000, 55))
    sockets += [
        _tcp(500 + index, ("10.20.0.5", 443), (client, 49_000 + index), "TIME_WAIT", (),
             timer=Timer("timewait", 41_000 - index * 1_000, 0), skmem=None, meminfo=None)
        for index, client in enumerate(_CLIENTS_V4[:3])
    ]
    sockets += [
        _unix(7001, "/run/systemd/journal/stdout", "LISTEN", "stream", _own(1, 40)),
        _unix(7002, "/run/postgresql/.s.PGSQL.5432", "LISTEN", "stream", _own(903, 7)),
        _unix(7003, "@/tmp/.X11-unix/X0", "LISTEN", "stream", _own(1, 41)),
        _unix(7004, None, "ESTABLISHED", "stream", _own(2310, 3), peer=7005),
        _unix(7005, None, "ESTABLISHED", "stream", _own(1, 55), peer=7004),
        _unix(7006, "/run/systemd/notify", UNCONN, "dgram", _own(1, 42)),
        _unix(7007, "/tmp/[red]sock\x1b[31m\n", "LISTEN", "seqpacket", _own(EVIL_PID, 4)),
    ]
    sockets.append(_established(600, ("10.20.0.5", 31337), ("10.20.0.66", 4444), _own(EVIL_PID, 5), step,
                                700, 150, 90_000))
    bulk = _established(BULK_COOKIE, ("10.20.0.5", 40_312), ("10.20.0.77", 5201),
                        (Owner(BULK_PID, 7), Owner(BULK_PID + 1, 7)), step, 4_200_000, 1_000, 46_900,
                        send_q=3_935_033, congestion="bbr",
                        extensions={"bbr": bbr_info(2_603_132, 0, 46_738, 739, 512)})
    sockets += [
        replace(bulk, tcp_info=TcpInfo(**{**bulk.tcp_info._asdict(), "snd_mss": 65_483, "pmtu": 65_535,
                                           "advmss": 65_483, "rcv_mss": 536, "snd_cwnd": 250})),
        _udp(24, ("10.20.0.5", 51_820), ("10.20.0.77", 51_820), _own(BULK_PID, 9), state="ESTABLISHED"),
        _unix(7008, LONG_PATH, "LISTEN", "stream", _own(BULK_PID, 10)),
    ]
    return _evolve(sockets, step)


def _evolve(sockets: list[Socket], step: int) -> list[Socket]:
    """Apply the changes between snapshots: one opened, one changed state, one closed, one queue grew."""
    by_cookie = {sock.cookie: sock for sock in sockets}
    if step >= 1:
        by_cookie[700] = _established(700, ("10.20.0.5", 443), ("203.0.113.250", 61_000), _NGINX, step - 1,
                                      900_000, 40_000, 25_000)
        pool = by_cookie[303]
        by_cookie[303] = replace(pool, state="CLOSE_WAIT", recv_q=1, timer=None,
                                 tcp_info=TcpInfo(**{**pool.tcp_info._asdict(), "state": 8}))
        del by_cookie[105]
        by_cookie[4] = replace(by_cookie[4], recv_q=7)
    if step >= 2:
        del by_cookie[500]
        by_cookie[701] = _established(701, ("::ffff:10.20.0.5", 80), ("::ffff:192.0.2.200", 60_400), _NGINX,
                                      0, 5_000, 700, 31_000)
    return list(by_cookie.values())


def recorded_snapshot(step: int, visibility: OwnerVisibility | None = None) -> Snapshot:
    """Snapshot ``step`` (0, 1 or 2) of the recorded host."""
    sockets = _sockets(step)
    return Snapshot(
        taken_at=T0 + step * STEP, monotonic=1000.0 + step * STEP, backend="netlink",
        backend_reason="recorded", sockets={sock.key: sock for sock in sockets}, processes=dict(PROCESSES),
        visibility=visibility or OwnerVisibility(), duration=0.012,
    )


def later(snapshot: Snapshot, seconds: float) -> Snapshot:
    """The same sockets, ``seconds`` later (for lingering and highlight expiry)."""
    return replace(snapshot, taken_at=snapshot.taken_at + seconds, monotonic=snapshot.monotonic + seconds)


def recorded_snapshots() -> list[Snapshot]:
    """The three recorded snapshots, in order."""
    return [recorded_snapshot(step) for step in range(3)]


def synthetic_snapshot(n: int, step: int = 0, processes: int = 200) -> Snapshot:
    """``n`` established TCP sockets spread over ``processes`` processes, counters advancing with ``step``."""
    procs = {pid: Process(pid, f"worker-{pid}", (f"/usr/bin/worker-{pid}",), 1000, "svc", None)
             for pid in range(10_000, 10_000 + processes)}
    pids = list(procs)
    sockets = {}
    for index in range(n):
        cookie = 1_000_000 + index
        info = tcp_info(rtt=500 + index % 5_000, bytes_acked=index * 10 + step * (index % 1000) * 100,
                        bytes_received=index * 3 + step * (index % 700) * 50, segs_out=index + step, segs_in=index)
        address = f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"
        sock = Socket(
            key=("tcp", cookie), proto="tcp", family="ipv4", state="ESTABLISHED", local_address="10.0.0.1",
            local_port=443, remote_address=address, remote_port=1024 + index % 60_000, recv_q=0, send_q=index % 3,
            inode=100_000 + index, cookie=cookie, owners=(Owner(pids[index % processes], 3 + index % 1000),),
            tcp_info=info, congestion="cubic",
        )
        sockets[sock.key] = sock
    return Snapshot(taken_at=T0 + step * STEP, monotonic=1000.0 + step * STEP, backend="synthetic",
                    backend_reason="synthetic", sockets=sockets, processes=procs)


HOST_NETNS = Namespace(INIT_NET_INODE, HOST, pids=tuple(sorted(PROCESSES)), own=True)
REDIS_PID = 7100
REDIS_CONTAINER = Container("docker", "4f1c2a9b7d3e", "docker:4f1c2a9b7d3e")
REDIS_NETNS = Namespace(4026532401, REDIS_CONTAINER.name, REDIS_CONTAINER, pids=(REDIS_PID,))
REDIS = Process(REDIS_PID, "redis-server", ("redis-server", "*:6379"), 999, "redis",
                f"/system.slice/docker-{REDIS_CONTAINER.id}{'0' * 52}.scope", container=REDIS_CONTAINER)


def with_namespaces(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` as a container host shows it: its sockets in the host's namespace, its processes in their
    systemd units, and a Redis container with a namespace of its own (a listener on the port a host process could
    use too, a client connection and a TIME_WAIT left behind)."""
    host = {key: replace(sock, netns=HOST, netns_inode=INIT_NET_INODE) for key, sock in snapshot.sockets.items()}
    inside = dict(netns=REDIS_NETNS.name, netns_inode=REDIS_NETNS.inode)
    redis = [
        _tcp(900, ("0.0.0.0", 6379), ("0.0.0.0", 0), "LISTEN", _own(REDIS_PID, 6), tcp_info(state=10), send_q=511,
             **inside),
        _established(901, ("172.17.0.2", 6379), ("172.17.0.1", 52_114), _own(REDIS_PID, 9), 1, 20_000, 3_000,
                     90, **inside),
        _tcp(902, ("172.17.0.2", 6379), ("172.17.0.1", 51_870), "TIME_WAIT", (), **inside),
    ]
    processes = {pid: replace(process, container=container_of(process.cgroup))
                 for pid, process in snapshot.processes.items()}  # fmt: skip
    return replace(
        snapshot,
        sockets={**host, **{sock.key: sock for sock in redis}},
        processes={**processes, REDIS_PID: REDIS},
        namespaces={HOST_NETNS.inode: HOST_NETNS, REDIS_NETNS.inode: REDIS_NETNS},
    )
