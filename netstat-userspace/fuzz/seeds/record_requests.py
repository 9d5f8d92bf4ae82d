# A fake daemon socket that saves each request line a real enetstat client sends.
import os, socket, sys, subprocess
path, out, binary = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(); s.settimeout(10)
cases = [["-tan"], ["-tulpn", "--json"], ["-s"], ["-rn"], ["-ie"], ["-gn"], ["-xap"], ["status"], ["-tanW", "--color", "always"]]
for i, args in enumerate(cases):
    p = subprocess.Popen([binary, "--source", "daemon", "--socket", path] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    c, _ = s.accept()
    data = b""
    while not data.endswith(b"\n"):
        chunk = c.recv(65536)
        if not chunk: break
        data += chunk
    open(os.path.join(out, f"client-{i}"), "wb").write(data)
    c.close(); p.wait()
