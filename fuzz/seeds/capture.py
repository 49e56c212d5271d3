#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, taken from real traffic and the project's own files.

Starts a lab `hybridauth serve` on loopback and puts recording proxies in front of its RADIUS
(UDP), LDAP and admin (TCP) listeners; real clients talk through them — radtest and radclient
(PAP, MS-CHAP, accounting, Status-Server), eapol_test (EAP-TTLS/PAP, PEAP/MSCHAPv2),
ldapwhoami, ldapsearch (with paging), ldapcompare, python ldap3, curl — and every request they
send is written as a seed: whole datagrams (radius_packet, radius_request), the EAP packets they
carry (eap_message), each EAP conversation's tunnel responses (eap_tunnel), each LDAP
connection's client bytes (ldap_message), the bind names and paging cookies in them
(dn_and_names, paged_cookie), each HTTP request (admin_http). The file targets take the
project's own files: scenarios/, conf/hybridauth.toml, and import fixtures.

    python3 fuzz/seeds/capture.py     (needs freeradius-utils, eapoltest, ldap-utils, curl)
"""
import hashlib, os, shutil, socket, struct, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("HYBRIDAUTH_BIN") or os.path.join(ROOT, "target", "debug", "hybridauth")
SECRET = "seed-secret"


def free(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def seed(target, data):
    if not data:
        return
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def attrs(packet):
    out, i = [], 20
    while i + 2 <= len(packet):
        t, n = packet[i], packet[i + 1]
        if n < 2:
            break
        out.append((t, packet[i + 2:i + n]))
        i += n
    return out


conversations = {}  # State or source -> list of EAP tunnel responses


def record_radius(d, src):
    seed("radius_packet", d)
    if d[0] == 1:
        seed("radius_request", d)
    eap = b"".join(v for t, v in attrs(d) if t == 79)
    if eap:
        seed("eap_message", eap)
        # EAP-Response of TTLS (21) or PEAP (25): its type data is what the tunnel receives.
        if len(eap) > 5 and eap[0] == 2 and eap[4] in (21, 25):
            conversations.setdefault(src, []).append(eap[5:])


def udp_proxy(listen, upstream, stop):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", listen))
    s.settimeout(0.2)
    back = {}
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.settimeout(0.2)
    while not stop.is_set():
        try:
            d, src = s.recvfrom(65536)
        except socket.timeout:
            continue
        record_radius(d, src)
        up.sendto(d, ("127.0.0.1", upstream))
        try:
            r, _ = up.recvfrom(65536)
            s.sendto(r, src)
        except socket.timeout:
            pass


def tcp_proxy(listen, upstream, stop, on_stream):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen))
    srv.listen(16)
    srv.settimeout(0.2)

    def pipe(a, b, sink):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                if sink is not None:
                    sink.append(d)
                b.sendall(d)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def handle(c):
        u = socket.create_connection(("127.0.0.1", upstream))
        sent = []
        t1 = threading.Thread(target=pipe, args=(c, u, sent))
        t2 = threading.Thread(target=pipe, args=(u, c, None))
        t1.start(); t2.start(); t1.join(); t2.join()
        c.close(); u.close()
        on_stream(b"".join(sent))

    while not stop.is_set():
        try:
            c, _ = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def ldap_stream(data):
    seed("ldap_message", data)
    # Bind names (BindRequest [APPLICATION 0]: version INTEGER, name OCTET STRING) and cookies.
    i = 0
    while True:
        i = data.find(b"\x60", i)
        if i < 0:
            break
        j = data.find(b"\x02\x01\x03\x04", i, i + 12)
        if j > 0 and j + 5 <= len(data):
            n = data[j + 4]
            if n < 0x80:
                seed("dn_and_names", data[j + 5:j + 5 + n])
        i += 1
    k = data.find(b"hybridauth-page-1:")
    while k >= 0:
        end = k
        while end < len(data) and 0x21 <= data[end] < 0x7f:
            end += 1
        seed("paged_cookie", data[k:end])
        k = data.find(b"hybridauth-page-1:", end)


def run(cmd, stdin=None):
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)


def main():
    work = tempfile.mkdtemp(prefix="hybridauth-seeds-")
    radius, ldap, admin = free(socket.SOCK_DGRAM), free(socket.SOCK_STREAM), free(socket.SOCK_STREAM)
    p_radius, p_ldap, p_admin = free(socket.SOCK_DGRAM), free(socket.SOCK_STREAM), free(socket.SOCK_STREAM)
    cert, key = f"{work}/cert.pem", f"{work}/key.pem"
    subprocess.run([BIN, "cert", "--cert", cert, "--key", key], check=True, capture_output=True)
    conf = f"{work}/h.toml"
    with open(conf, "w") as f:
        f.write(f"""[store]
path = "{work}/store.sqlite3"
[clock]
mode = "simulated"
start = "2026-01-05T10:00:00Z"
[hashing]
memory_kib = 1024
iterations = 1
store_nt_hash = true
[admin]
listen = "127.0.0.1:{admin}"
[radius]
listen = ["127.0.0.1:{radius}"]
accounting_listen = []
reject_delay = "0s"
[[radius.clients]]
name = "seed"
network = "127.0.0.1/32"
secret = "{SECRET}"
require_message_authenticator = false
[radius.eap]
methods = ["ttls", "peap"]
cert = "{cert}"
key = "{key}"
[[ldap.listeners]]
address = "127.0.0.1:{ldap}"
endpoint = "on-prem"
""")
    ha = lambda *a: subprocess.run([BIN, "--config", conf, *a], check=True, capture_output=True)
    ha("user", "add", "alice", "--password", "Winter2026!", "--mail", "alice@contoso.com", "--groups", "vpn-users")
    ha("user", "add", "bob", "--password", "Bob-pass-1")
    log = open(f"{work}/serve.log", "w")
    server = subprocess.Popen([BIN, "--config", conf, "serve"], stdout=log, stderr=log)
    stop = threading.Event()
    try:
        for _ in range(200):
            if "hybridauth ready" in open(f"{work}/serve.log").read():
                break
            time.sleep(0.05)
        threads = [
            threading.Thread(target=udp_proxy, args=(p_radius, radius, stop), daemon=True),
            threading.Thread(target=tcp_proxy, args=(p_ldap, ldap, stop, ldap_stream), daemon=True),
            threading.Thread(target=tcp_proxy, args=(p_admin, admin, stop, lambda d: seed("admin_http", d)), daemon=True),
        ]
        for t in threads:
            t.start()
        R = f"127.0.0.1:{p_radius}"
        run(["radtest", "alice", "Winter2026!", R, "0", SECRET])
        run(["radtest", "alice", "wrong", R, "0", SECRET])
        run(["radtest", "-t", "mschap", "alice", "Winter2026!", R, "0", SECRET])
        run(["radtest", "CONTOSO\\\\bob", "Bob-pass-1", R, "0", SECRET])
        run(["radclient", "-r", "1", R, "auth", SECRET], "User-Name=alice@contoso.com,User-Password=x,Message-Authenticator=0x00,Proxy-State=0x01\n")
        run(["radclient", "-r", "1", R, "status", SECRET], "Message-Authenticator=0x00\n")
        for method, phase2 in [("TTLS", "auth=PAP"), ("TTLS", "auth=MSCHAPV2"), ("PEAP", "auth=MSCHAPV2")]:
            c = f"{work}/eapol-{method}-{phase2[5:]}.conf"
            with open(c, "w") as f:
                f.write(f'network={{\n key_mgmt=WPA-EAP\n eap={method}\n identity="alice"\n anonymous_identity="anonymous"\n'
                        f' password="Winter2026!"\n phase2="{phase2}"\n ca_cert="{cert}"\n}}\n')
            conversations.clear()
            run(["eapol_test", "-c", c, "-a", "127.0.0.1", "-p", str(p_radius), "-s", SECRET, "-r", "0", "-t", "10"])
            for responses in conversations.values():
                seed("eap_tunnel", b"".join(struct.pack(">H", len(r)) + r for r in responses))
        L = f"ldap://127.0.0.1:{p_ldap}"
        dn = "CN=alice,CN=Users,DC=contoso,DC=com"
        run(["ldapwhoami", "-x", "-H", L, "-D", "alice@contoso.com", "-w", "Winter2026!"])
        run(["ldapwhoami", "-x", "-H", L, "-D", "CONTOSO\\alice", "-w", "Winter2026!"])
        run(["ldapwhoami", "-x", "-H", L, "-D", dn, "-w", "wrong"])
        run(["ldapsearch", "-x", "-H", L, "-D", dn, "-w", "Winter2026!", "-b", "DC=contoso,DC=com",
             "-E", "pr=1/noprompt", "(&(objectClass=user)(|(sAMAccountName=a*)(mail=*@contoso.com))(!(userAccountControl:1.2.840.113556.1.4.803:=2)))", "cn", "memberOf"])
        run(["ldapsearch", "-x", "-H", L, "-b", "", "-s", "base", "(objectClass=*)"])
        run(["ldapsearch", "-x", "-H", L, "-D", dn, "-w", "Winter2026!", "-b", "CN=Users,DC=contoso,DC=com",
             "-E", "pr=1/noprompt", "(objectClass=*)", "sAMAccountName"])
        run(["ldapcompare", "-x", "-H", L, "-D", dn, "-w", "Winter2026!", "CN=vpn-users,CN=Users,DC=contoso,DC=com", f"member:{dn}"])
        try:
            import ldap3
            s = ldap3.Server("127.0.0.1", port=p_ldap)
            c = ldap3.Connection(s, user=dn, password="Winter2026!", auto_bind=True)
            c.search("DC=contoso,DC=com", "(userPrincipalName=alice@contoso.com)", attributes=["displayName", "objectGUID"])
            c.unbind()
        except Exception as e:  # noqa: BLE001 - a missing module only loses a seed
            print("ldap3:", e, file=sys.stderr)
        A = f"http://127.0.0.1:{p_admin}"
        for path in ["/metrics", "/healthz?format=json", "/", "/api/overview?after=alice", "/api/timeline.svg?user=1&since=2026-01-05T09:00:00Z",
                     "/api/events", "/api/mfa/pushes"]:
            run(["curl", "-s", "-m", "1", A + path])
        run(["curl", "-s", "-m", "1", "-X", "POST", "-H", "Origin: http://127.0.0.1", A + "/api/mfa/answer?user=alice&answer=approve"])
        time.sleep(0.5)  # the proxies' last connections finish writing their seeds
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=15)
    # Names as people type them (MS-ADTS 5.1.1.1.1), beside the DNs captured above.
    for name in [b"alice", b"CONTOSO\\alice", b"contoso.com\\alice", b"alice@contoso.com", b"ALICE@CONTOSO.COM",
                 b"CN=alice,CN=Users,DC=contoso,DC=com", b"cn = Alice , cn=users,dc=Contoso,dc=com",
                 b"CN=Smith\\, John,OU=Sales\\+East,DC=contoso,DC=com", b"CN=#04024869,DC=contoso,DC=com"]:
        seed("dn_and_names", name)
    # The file targets: the project's own files.
    for name in sorted(os.listdir(os.path.join(ROOT, "scenarios"))):
        seed("scenario_file", open(os.path.join(ROOT, "scenarios", name), "rb").read())
    seed("config_file", open(os.path.join(ROOT, "conf", "hybridauth.toml"), "rb").read())
    seed("config_file", open(conf, "rb").read())
    seed("import_csv", b"sam,upn,password,display_name,mail,groups,mfa,admin,enabled\n"
                       b"ann,ann@contoso.com,Ann-pass-1,Ann A,ann@contoso.com,VPN Users;staff,enforced,false,true\n"
                       b"\"bob, jr\",,\"pa,ss\",,,,,,\n")
    seed("import_csv", b"sam,password_hash\ncid,\"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$0Yx1bH0mB1f0y9dGs0o8vQ\"\n")
    seed("import_ldif", b"version: 1\ndn: CN=Dee,CN=Users,DC=contoso,DC=com\nobjectClass: user\nsAMAccountName: dee\n"
                        b"userPrincipalName: dee@contoso.com\ndisplayName:: RGVlIERlZQ==\nmemberOf: CN=VPN Users,CN=Users,DC=contoso,DC=com\n"
                        b"userAccountControl: 512\nmail: dee@cont\n oso.com\n\ndn: CN=VPN Users,CN=Users,DC=contoso,DC=com\nobjectClass: group\n")
    shutil.rmtree(work, ignore_errors=True)
    for t in sorted(os.listdir(HERE)):
        if os.path.isdir(os.path.join(HERE, t)):
            print(f"{t}: {len(os.listdir(os.path.join(HERE, t)))} seeds")


if __name__ == "__main__":
    main()
