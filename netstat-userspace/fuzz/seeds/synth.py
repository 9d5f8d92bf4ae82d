# Small hand-made seeds: control lines of every protocol version, HTTP heads, fd links and
# cmdlines, ring records and a BTF blob with the structs the probes look up.
import os, struct, sys
out = sys.argv[1]
def save(target, name, data):
    d = os.path.join(out, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)
for i, line in enumerate([
    b'{"version":3,"request":"status"}\n', b'{"version":3,"request":"table"}\n',
    b'{"version":1,"request":"status"}\n', b'{"version":2,"request":"table"}\n',
    b'{"version":1,"request":"snapshot","args":["-tanp","-W"],"hide_inodes":[42],"netns":4026531840,"color":true}\n',
    b'{"version":2,"request":"snapshot","args":["-s"],"format":"json"}\n',
    b'{"version":3,"ok":true}\n', b'{"version":2,"ok":false,"error":"the daemon is busy; try again"}\n',
]):
    save("control_request", f"line-{i}", line)
for i, head in enumerate([
    b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.45\r\nAccept: text/plain;version=0.0.4\r\n\r\n",
    b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n", b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: x\r\n", b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 70 + b"\r\n",
]):
    save("metrics_head", f"head-{i}", head)
for i, data in enumerate([b"socket:[12345]", b"pipe:[9]", b"/usr/sbin/sshd\0-D\0", b"sshd: root@pts/0\0", b"\x2a\0\0\0/opt/x/y\0"]):
    save("proc_owners", f"seed-{i}", data)

def tcp_record(family, src, dst, old, new):
    rec = struct.pack("<QQ16s16s16sIHHHBBI", 123456789, 0xffff888812345678, src, dst, b"curl\0", 4242, 40000, 80, family, old, new, 4026531840)
    return rec + struct.pack("<QQQQ", 10, 20, 3, 0)  # close counters: 32 bytes
save("ring_record", "tcp4", tcp_record(2, bytes([127,0,0,1]) + bytes(12), bytes([127,0,0,1]) + bytes(12), 1, 7))
save("ring_record", "tcp6", tcp_record(10, bytes(15) + b"\1", bytes(15) + b"\1", 2, 1))
iface = lambda kind, reason: struct.pack("<QQ16sIIIIHBB4s", 1, 0xffffffff81000000, b"lo\0", 1, 4026531840, reason, 84, 0x0800, kind, 1, bytes(4))
save("ring_record", "xmit-failed", iface(1, 1))
save("ring_record", "drop", iface(2, 2))

# BTF: header, types, strings.
strings = b"\0"
def s(name):
    global strings
    off = len(strings); strings += name.encode() + b"\0"; return off
types = b""
def ty(name, kind, vlen, size_or_type, extra=b"", kflag=0):
    global types
    types += struct.pack("<III", s(name) if name else 0, (kflag << 31) | (kind << 24) | vlen, size_or_type) + extra
def members(*ms): return b"".join(struct.pack("<III", s(n) if n else 0, t, off) for n, t, off in ms)
ty("int", 1, 0, 4, struct.pack("<I", 32))                                    # 1
ty("sock_common", 4, 2, 16, members(("skc_net", 1, 64), ("", 3, 0)))         # 2
ty("", 5, 1, 4, members(("skc_state", 1, 0)))                                 # 3 anonymous union
ty("sock", 4, 1, 32, members(("__sk_common", 2, 0)))                          # 4
ty("ns_common", 4, 1, 24, members(("inum", 1, 128)))                          # 5
ty("net", 4, 1, 128, members(("ns", 5, 768)))                                 # 6
ty("sock_t", 8, 0, 4)                                                         # 7 typedef
ty("sock_flags", 6, 2, 4, struct.pack("<IiIi", s("SOCK_DEAD"), 0, s("SOCK_DONE"), 1))  # 8
ty("skb_drop_reason", 19, 1, 8, struct.pack("<III", s("SKB_DROP_REASON_NOT_SPECIFIED"), 2, 0))  # 9 enum64
ty("", 2, 0, 4)                                                               # 10 ptr
ty("tcp_sock", 4, 1, 64, members(("inet_conn", 7, 0)), kflag=1)               # 11 bitfield offsets
header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
save("btf", "probe-structs", header + types + strings)
