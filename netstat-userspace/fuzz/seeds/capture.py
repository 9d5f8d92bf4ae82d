# Runs inside a scratch namespace: makes a few loopback sockets, then saves /proc/net files and
# raw netlink answers (sock_diag TCP dump, RTM_GETLINK dump) as seeds.
import os, socket, struct, sys
out = sys.argv[1]
def save(target, name, data):
    d = os.path.join(out, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)
lst = socket.socket(); lst.bind(("127.0.0.1", 0)); lst.listen()
cli = socket.create_connection(lst.getsockname()); srv, _ = lst.accept()
l6 = socket.socket(socket.AF_INET6); l6.bind(("::1", 0)); l6.listen()
c6 = socket.create_connection(l6.getsockname()[:2]); s6, _ = l6.accept()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
ux = socket.socket(socket.AF_UNIX); ux.bind("\0enetstat-seed"); ux.listen()
for f in ["tcp", "tcp6", "udp", "udp6", "raw", "raw6", "udplite"]:
    save("proc_inet_sockets", f, open("/proc/net/" + f, "rb").read())
save("proc_unix_sockets", "unix", open("/proc/net/unix", "rb").read())
for f in ["dev", "if_inet6"]:
    save("proc_dev", f, open("/proc/net/" + f, "rb").read())
for f in ["route", "ipv6_route"]:
    save("proc_route", "ns-" + f, open("/proc/net/" + f, "rb").read())
save("proc_igmp", "ns-igmp-igmp6", open("/proc/net/igmp", "rb").read() + b"\0" + open("/proc/net/igmp6", "rb").read())
for f in ["snmp", "netstat", "snmp6"]:
    save("proc_snmp", "ns-" + f, open("/proc/net/" + f, "rb").read())

def dump(protocol, kind, payload):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
    s.bind((0, 0))
    flags = 0x1 | 0x300  # NLM_F_REQUEST | NLM_F_DUMP
    s.send(struct.pack("=IHHII", 16 + len(payload), kind, flags, 1, 0) + payload)
    answers = []
    while True:
        data = s.recv(65536)
        answers.append(data)
        if struct.unpack_from("=H", data, 4)[0] in (2, 3):  # NLMSG_ERROR, NLMSG_DONE
            break
        # Done may follow in the same buffer.
        at, done = 0, False
        while at + 16 <= len(data):
            ln, ty = struct.unpack_from("=IH", data, at)
            if ty in (2, 3): done = True
            if ln < 16: break
            at += (ln + 3) & ~3
        if done: break
    return answers
# inet_diag_req_v2: family, protocol, ext, pad, states; then inet_diag_sockid (48 bytes).
for fam, name in [(socket.AF_INET, "tcp4"), (socket.AF_INET6, "tcp6")]:
    req = struct.pack("=BBBBI", fam, socket.IPPROTO_TCP, 0, 0, 0xffffffff) + bytes(48)
    for i, a in enumerate(dump(4, 20, req)):  # NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY
        save("netlink_sock_diag", f"dump-{name}-{i}", a)
ifinfo = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)
for i, a in enumerate(dump(0, 18, ifinfo)):  # NETLINK_ROUTE, RTM_GETLINK
    save("netlink_link", f"dump-{i}", a)
