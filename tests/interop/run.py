#!/usr/bin/env python3
"""Interop suite: hybridauth against clients nobody here wrote.

radclient/radtest (freeradius-utils), pyrad, ldapwhoami/ldapsearch (ldap-utils), python ldap3,
eapol_test, Apache httpd's mod_authnz_ldap, radsecproxy, FreeRADIUS (proxying over TLS),
openssl s_client and headless Chromium talk to a real
`hybridauth serve` on loopback. Prints one line per case and a closing
'N passed, N failed' line; exits non-zero on any failure.
"""
import json, os, socket, subprocess, sys, tempfile, time, traceback

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("HYBRIDAUTH_BIN") or os.path.join(HERE, "..", "..", "target", "debug", "hybridauth")
SECRET = "interop-secret"
results = []


def free(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Lab:
    def __init__(self, extra="", on_prem_message_authenticator=True):
        self.dir = tempfile.mkdtemp(prefix="hybridauth-interop-")
        self.radius, self.acct = free(socket.SOCK_DGRAM), free(socket.SOCK_DGRAM)
        self.ldap, self.ldap_cloud, self.ldaps, self.ldap_tls, self.admin = (free(socket.SOCK_STREAM) for _ in range(5))
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        subprocess.run([BIN, "cert", "--cert", cert, "--key", key], check=True, capture_output=True)
        self.config = os.path.join(self.dir, "hybridauth.toml")
        with open(self.config, "w") as f:
            f.write(f'''
[store]
path = "{self.dir}/store.sqlite3"
[clock]
mode = "simulated"
start = "2026-01-05T10:00:00Z"
[hashing]
memory_kib = 1024
iterations = 1
store_nt_hash = true
[admin]
listen = "127.0.0.1:{self.admin}"
[radius]
listen = ["127.0.0.1:{self.radius}", "[::1]:{self.radius}"]
accounting_listen = ["127.0.0.1:{self.acct}"]
[[radius.clients]]
name = "vpn-onprem"
network = "127.0.0.1/32"
secret = "{SECRET}"
endpoint = "on-prem"
require_message_authenticator = {"true" if on_prem_message_authenticator else "false"}
[[radius.clients]]
name = "mail-cloud"
network = "::1/128"
secret = "{SECRET}"
endpoint = "cloud"
require_message_authenticator = false
[[radius.policies]]
name = "staff-vlan"
groups = ["staff"]
clients = ["vpn-onprem"]
reply = {{ "Tunnel-Type" = "VLAN", "Tunnel-Medium-Type" = "IEEE-802", "Tunnel-Private-Group-Id" = "42", "Session-Timeout" = 3600, "Class" = "staff-vlan" }}
[radius.eap]
methods = ["ttls", "peap"]
cert = "{cert}"
key = "{key}"
[[radius.clients]]
name = "wifi-cloud"
network = "127.0.0.2/32"
secret = "{SECRET}"
endpoint = "cloud"
[[ldap.listeners]]
address = "127.0.0.1:{self.ldap}"
endpoint = "on-prem"
[[ldap.listeners]]
address = "127.0.0.1:{self.ldap_cloud}"
endpoint = "cloud"
[[ldap.listeners]]
address = "127.0.0.1:{self.ldaps}"
endpoint = "on-prem"
tls = "ldaps"
cert = "{cert}"
key = "{key}"
[[ldap.listeners]]
address = "127.0.0.1:{self.ldap_tls}"
endpoint = "on-prem"
tls = "starttls"
cert = "{cert}"
key = "{key}"
{extra}
''')
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        self.proc = subprocess.Popen([BIN, "--config", self.config, "serve"], stdout=self.log, stderr=self.log)
        # "hybridauth ready" is logged once every listener is bound (a port probe would prove one).
        log_path = os.path.join(self.dir, "serve.log")
        for _ in range(400):
            with open(log_path) as f:
                if "hybridauth ready" in f.read():
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("server did not start: " + open(log_path).read())

    def cli(self, *args, ok=True):
        p = subprocess.run([BIN, "--config", self.config, *args], capture_output=True, text=True)
        if ok and p.returncode != 0:
            raise RuntimeError(f"{args}: {p.stderr}")
        return p

    def signin(self, which):
        path = os.path.join(self.dir, f"signin-{which}.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)


def case(fn):
    try:
        fn()
        results.append((fn.__name__, True, ""))
        print(f"ok    {fn.__name__}")
    except Exception as e:  # noqa: BLE001 - report and go on
        results.append((fn.__name__, False, str(e)))
        print(f"FAIL  {fn.__name__}: {e}")
        traceback.print_exc()


def run(cmd, stdin=None, timeout=20):
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)


def mfa_cases():
    """MFA over RADIUS (the NPS extension) on a lab of its own, where every on-prem accept goes
    on to the second factor: pam_radius_auth through pamtester answering the code prompt, pyrad
    doing the same round trip by hand, eapol_test's PEAP held for a push approved meanwhile.
    Codes come from oathtool, never from hybridauth."""
    names = ["pamtester_and_pam_radius_auth_answer_the_code_prompt", "pyrad_answers_the_code_prompt_with_the_state",
             "eapol_test_peap_waits_for_the_push_and_is_accepted_once_approved"]
    if not any(os.environ.get("INTEROP_ONLY", "") in n for n in names):
        return
    # pam_radius_auth 2.0 (Debian bookworm) sends no Message-Authenticator.
    lab = Lab(extra='[radius.mfa]\nextension = "nps"\ntimeout = "30s"\n', on_prem_message_authenticator=False)
    lab.cli("user", "add", "mfa-user", "--password", "Mfa-pass-1")
    lab.cli("user", "add", "wifi-user", "--password", "Wifi-pass-1")
    lab.cli("sync", "now")
    uri = json.loads(lab.cli("--json", "user", "mfa", "add", "mfa-user", "--totp").stdout)["otpauth_uri"]
    secret = uri.split("secret=")[1].split("&")[0]
    lab.cli("user", "mfa", "add", "wifi-user", "--push")

    def oathtool():
        return run(["oathtool", "--totp", "-b", secret]).stdout.strip()

    def pamtester_and_pam_radius_auth_answer_the_code_prompt():
        service = f"hybridauth-interop-{os.getpid()}"
        conf = os.path.join(lab.dir, "pam_radius_auth.conf")
        with open(conf, "w") as f:
            f.write(f"127.0.0.1:{lab.radius} {SECRET} 10\n")
        os.chmod(conf, 0o600)
        pam = f"/etc/pam.d/{service}"
        with open(pam, "w") as f:
            f.write(f"auth required pam_radius_auth.so conf={conf}\naccount required pam_permit.so\n")
        try:
            p = run(["pamtester", service, "mfa-user", "authenticate"], stdin=f"Mfa-pass-1\n{oathtool()}\n", timeout=30)
            assert p.returncode == 0 and "successfully authenticated" in p.stdout + p.stderr, p.stdout + p.stderr
            assert "Enter your Microsoft validation code" in p.stdout + p.stderr, p.stdout + p.stderr
            assert lab.signin("cloud")[-1]["rule"] == "mfa.code-accepted", lab.signin("cloud")[-1]
            # A wrong code fails the PAM conversation.
            p = run(["pamtester", service, "mfa-user", "authenticate"], stdin="Mfa-pass-1\n000000\n", timeout=30)
            wrong = lab.signin("cloud")[-1]["rule"]
            assert p.returncode != 0 and wrong in ("mfa.code-wrong", "mfa.code-replayed"), (p.stdout + p.stderr, wrong)
        finally:
            os.remove(pam)

    def pyrad_answers_the_code_prompt_with_the_state():
        import pyrad.client, pyrad.dictionary, pyrad.packet
        c = pyrad.client.Client(server="127.0.0.1", authport=lab.radius, secret=SECRET.encode(), dict=pyrad.dictionary.Dictionary(os.path.join(HERE, "dictionary")))
        c.timeout, c.retries = 5, 1
        req = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name="mfa-user")
        req["User-Password"] = req.PwCrypt("Mfa-pass-1")
        req.add_message_authenticator()
        reply = c.SendPacket(req)
        assert reply.code == pyrad.packet.AccessChallenge, reply.code
        assert "Enter your Microsoft validation code" in reply["Reply-Message"][0], reply["Reply-Message"]
        state = reply["State"][0]
        time.sleep(0.1)
        # A code from the previous step would be refused once used by pamtester: wait for a
        # fresh step if needed by trying the current code.
        req = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name="mfa-user")
        req["User-Password"] = req.PwCrypt(oathtool())
        req["State"] = state
        req.add_message_authenticator()
        reply = c.SendPacket(req)
        rule = lab.signin("cloud")[-1]["rule"]
        if reply.code == pyrad.packet.AccessReject and rule == "mfa.code-replayed":
            return  # the step pamtester used: the replay refusal is the right answer too
        assert reply.code == pyrad.packet.AccessAccept, (reply.code, rule)

    def eapol_test_peap_waits_for_the_push_and_is_accepted_once_approved():
        conf = os.path.join(lab.dir, "eapol-mfa.conf")
        with open(conf, "w") as f:
            f.write(f'network={{\n key_mgmt=WPA-EAP\n eap=PEAP\n identity="wifi-user"\n anonymous_identity="anonymous@contoso.com"\n'
                    f' password="Wifi-pass-1"\n phase2="auth=MSCHAPV2"\n ca_cert="{os.path.join(lab.dir, "cert.pem")}"\n}}\n')
        eap = subprocess.Popen(["eapol_test", "-c", conf, "-a", "127.0.0.1", "-p", str(lab.radius), "-s", SECRET, "-t", "40"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 30
        while lab.cli("mfa", "approve", "wifi-user", ok=False).returncode != 0:
            assert time.time() < deadline and eap.poll() is None, "no push was opened"
            time.sleep(0.2)
        out, _ = eap.communicate(timeout=60)
        assert eap.returncode == 0 and out.rstrip().endswith("SUCCESS"), out[-2000:]
        assert lab.signin("cloud")[-1]["rule"] == "mfa.push-approved", lab.signin("cloud")[-1]

    try:
        for fn in [pamtester_and_pam_radius_auth_answer_the_code_prompt, pyrad_answers_the_code_prompt_with_the_state,
                   eapol_test_peap_waits_for_the_push_and_is_accepted_once_approved]:
            if os.environ.get("INTEROP_ONLY", "") in fn.__name__:
                case(fn)
    finally:
        lab.stop()


def radsec_cases():
    """RADIUS over TLS (RFC 6614) and TCP (RFC 6613) with peers nobody here wrote: radsecproxy
    forwarding radclient and eapol_test over TLS, FreeRADIUS proxying to hybridauth as a TLS
    home server, radclient over TCP, openssl s_client with a certificate of another CA."""
    names = ["radsecproxy_forwards_radclient_over_tls_auth_accounting_and_status",
             "eapol_test_ttls_and_peap_through_radsecproxy",
             "freeradius_proxies_to_hybridauth_over_tls",
             "radclient_over_tcp", "openssl_s_client_with_another_cas_certificate_is_refused"]
    if not any(os.environ.get("INTEROP_ONLY", "") in n for n in names):
        return
    certs = tempfile.mkdtemp(prefix="hybridauth-radsec-")
    subprocess.run([BIN, "cert", "--radsec", "--dir", certs, "--client", "nas-proxy", "--client", "nas-fr"],
                   check=True, capture_output=True)
    other = os.path.join(certs, "other")
    subprocess.run([BIN, "cert", "--radsec", "--dir", other, "--client", "nas-proxy"], check=True, capture_output=True)
    tls_port, tcp_port = free(socket.SOCK_STREAM), free(socket.SOCK_STREAM)
    lab = Lab(extra=f'''
[[radius.clients]]
name = "radsecproxy"
tls_identity = "nas-proxy"
endpoint = "on-prem"
[[radius.clients]]
name = "freeradius-proxy"
tls_identity = "nas-fr"
endpoint = "on-prem"
require_message_authenticator = false
[[radius.tls_listeners]]
listen = "127.0.0.1:{tls_port}"
cert = "{certs}/server.pem"
key = "{certs}/server-key.pem"
ca = "{certs}/ca.pem"
[[radius.tcp_listeners]]
listen = "127.0.0.1:{tcp_port}"
''')
    lab.cli("user", "add", "dora", "--password", "Dora-pass-1")
    peers = []

    def metric(key):
        import urllib.request
        body = urllib.request.urlopen(f"http://127.0.0.1:{lab.admin}/metrics", timeout=5).read().decode()
        return sum(float(l.split()[-1]) for l in body.splitlines() if l.startswith(key))

    def radclient(port, attrs, code="auth", extra=()):
        # Retransmits as a NAS does while a peer that was just started comes up.
        return run(["radclient", "-x", "-r", "5", "-t", "1", *extra, f"127.0.0.1:{port}", code, SECRET],
                   stdin=attrs, timeout=30)

    proxy_port = free(socket.SOCK_DGRAM)

    def start_radsecproxy():
        conf = os.path.join(lab.dir, "radsecproxy.conf")
        with open(conf, "w") as f:
            f.write(RADSECPROXY_CONF.format(port=proxy_port, dir=lab.dir, secret=SECRET, certs=certs, tls_port=tls_port))
        peers.append(subprocess.Popen(["radsecproxy", "-f", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def radsecproxy_forwards_radclient_over_tls_auth_accounting_and_status():
        start_radsecproxy()
        p = radclient(proxy_port, "User-Name=dora\nUser-Password=Dora-pass-1\nMessage-Authenticator=0x00\n")
        assert "Received Access-Accept" in p.stdout, p.stdout + p.stderr
        p = radclient(proxy_port, "User-Name=dora\nUser-Password=wrong\nMessage-Authenticator=0x00\n")
        assert "Received Access-Reject" in p.stdout, p.stdout + p.stderr
        assert lab.signin("onprem")[-1]["rule"] == "onprem.bad-password", lab.signin("onprem")[-1]
        # MS-CHAP through the proxy (radsecproxy re-encrypts the MPPE keys for its own client).
        p = run(["radtest", "-t", "mschap", "-x", "dora", "Dora-pass-1", f"127.0.0.1:{proxy_port}", "0", SECRET], timeout=30)
        assert "Access-Accept" in p.stdout and "MS-CHAP-MPPE-Keys" in p.stdout, p.stdout + p.stderr
        p = run(["radtest", "-t", "mschap", "-x", "dora", "not-it", f"127.0.0.1:{proxy_port}", "0", SECRET], timeout=30)
        assert "Access-Reject" in p.stdout and "E=691" in p.stdout, p.stdout + p.stderr
        p = radclient(proxy_port, "User-Name=dora\nAcct-Status-Type=Start\nAcct-Session-Id=rs-1\n", code="acct")
        assert "Received Accounting-Response" in p.stdout, p.stdout + p.stderr
        with open(os.path.join(lab.dir, "accounting.jsonl")) as f:
            assert "radsecproxy" in f.read().splitlines()[-1]
        assert metric('hybridauth_radius_packets_total{transport="tls"}') >= 3
        assert metric('hybridauth_radius_connections_open{transport="tls"}') >= 1

    def eapol_test_ttls_and_peap_through_radsecproxy():
        if not peers:
            start_radsecproxy()
        for method, phase2 in [("TTLS", "auth=PAP"), ("PEAP", "auth=MSCHAPV2")]:
            conf = os.path.join(lab.dir, f"eapol-radsec-{method}.conf")
            with open(conf, "w") as f:
                f.write(f'network={{\n key_mgmt=WPA-EAP\n eap={method}\n identity="dora"\n'
                        f' anonymous_identity="anonymous@contoso.com"\n password="Dora-pass-1"\n phase2="{phase2}"\n'
                        f' ca_cert="{os.path.join(lab.dir, "cert.pem")}"\n}}\n')
            p = run(["eapol_test", "-c", conf, "-a", "127.0.0.1", "-p", str(proxy_port), "-s", SECRET, "-r", "0", "-t", "15"],
                    timeout=40)
            assert p.returncode == 0 and p.stdout.rstrip().endswith("SUCCESS"), (method, p.stdout[-2000:])
            assert "MPPE keys OK: 1  mismatch: 0" in p.stdout, method
            assert lab.signin("onprem")[-1]["rule"] == "onprem.accept", lab.signin("onprem")[-1]

    def freeradius_proxies_to_hybridauth_over_tls():
        fr = os.path.join(lab.dir, "fr")
        os.makedirs(fr, exist_ok=True)
        auth, acct = free(socket.SOCK_DGRAM), free(socket.SOCK_DGRAM)
        with open(os.path.join(fr, "radiusd.conf"), "w") as f:
            f.write(FREERADIUS_TLS_PROXY_CONF.format(fr=fr, tls_port=tls_port, certs=certs, secret=SECRET, auth=auth, acct=acct))
        peers.append(subprocess.Popen(["freeradius", "-f", "-d", fr, "-n", "radiusd"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        p = radclient(auth, "User-Name=dora\nUser-Password=Dora-pass-1\n")
        log = os.path.join(fr, "radius.log")
        assert "Received Access-Accept" in p.stdout, p.stdout + p.stderr + (open(log).read()[-2000:] if os.path.exists(log) else "")
        p = radclient(auth, "User-Name=dora\nUser-Password=wrong\n")
        assert "Received Access-Reject" in p.stdout, p.stdout + p.stderr
        p = radclient(acct, "User-Name=dora\nAcct-Status-Type=Start\nAcct-Session-Id=fr-1\n", code="acct")
        assert "Received Accounting-Response" in p.stdout, p.stdout + p.stderr
        with open(os.path.join(lab.dir, "accounting.jsonl")) as f:
            assert "freeradius-proxy" in f.read().splitlines()[-1]

    def radclient_over_tcp():
        p = radclient(tcp_port, "User-Name=dora\nUser-Password=Dora-pass-1\nMessage-Authenticator=0x00\n", extra=("-P", "tcp"))
        assert "Received Access-Accept" in p.stdout, p.stdout + p.stderr
        p = radclient(tcp_port, "User-Name=dora\nUser-Password=wrong\nMessage-Authenticator=0x00\n", extra=("-P", "tcp"))
        assert "Received Access-Reject" in p.stdout, p.stdout + p.stderr
        assert metric('hybridauth_radius_packets_total{transport="tcp"}') >= 2

    def openssl_s_client_with_another_cas_certificate_is_refused():
        key = 'hybridauth_radius_connections_refused_total{transport="tls",reason="handshake"}'
        before = metric(key)
        # TLS 1.2: the client certificate is judged before the handshake ends, so the refusal is
        # the handshake's own alert (over TLS 1.3 it would follow the client's Finished).
        p = run(["openssl", "s_client", "-tls1_2", "-connect", f"127.0.0.1:{tls_port}", "-CAfile", f"{certs}/ca.pem",
                 "-cert", f"{other}/client-nas-proxy.pem", "-key", f"{other}/client-nas-proxy-key.pem"], stdin="x\n", timeout=20)
        out = (p.stdout + p.stderr).lower()
        assert "alert" in out, out[-1500:]
        deadline = time.time() + 5
        while metric(key) != before + 1:
            assert time.time() < deadline, (before, metric(key))
            time.sleep(0.05)

    try:
        for fn in [radsecproxy_forwards_radclient_over_tls_auth_accounting_and_status,
                   eapol_test_ttls_and_peap_through_radsecproxy, freeradius_proxies_to_hybridauth_over_tls,
                   radclient_over_tcp, openssl_s_client_with_another_cas_certificate_is_refused]:
            if os.environ.get("INTEROP_ONLY", "") in fn.__name__:
                case(fn)
    finally:
        for peer in peers:
            peer.terminate()
            peer.wait(timeout=15)
        lab.stop()


RADSECPROXY_CONF = """ListenUDP 127.0.0.1:{port}
LogLevel 3
LogDestination file://{dir}/radsecproxy.log
client nas {{
    host 127.0.0.1
    type udp
    secret {secret}
}}
tls lab {{
    CACertificateFile {certs}/ca.pem
    CertificateFile {certs}/client-nas-proxy.pem
    CertificateKeyFile {certs}/client-nas-proxy-key.pem
}}
server hybridauth {{
    host 127.0.0.1
    port {tls_port}
    type tls
    tls lab
    secret radsec
    StatusServer on
}}
realm * {{
    server hybridauth
    accountingServer hybridauth
}}
"""

# FreeRADIUS 3.2 proxying every request to hybridauth as a RADIUS over TLS home server.
FREERADIUS_TLS_PROXY_CONF = """prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {fr}
raddbdir = {fr}
radacctdir = {fr}
name = freeradius
confdir = {fr}
modconfdir = {fr}
run_dir = {fr}
db_dir = {fr}
libdir = /usr/lib/freeradius
pidfile = {fr}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
proxy_requests = yes
log {{
  destination = files
  file = {fr}/radius.log
}}
security {{
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = yes
}}
thread pool {{
  start_servers = 2
  max_servers = 4
  min_spare_servers = 1
  max_spare_servers = 4
  max_requests_per_server = 0
}}
proxy server {{
  default_fallback = no
}}
home_server hybridauth {{
  type = auth+acct
  ipaddr = 127.0.0.1
  port = {tls_port}
  proto = tcp
  secret = radsec
  status_check = status-server
  tls {{
    private_key_file = {certs}/client-nas-fr-key.pem
    certificate_file = {certs}/client-nas-fr.pem
    ca_file = {certs}/ca.pem
    fragment_size = 8192
    check_crl = no
    cipher_list = "DEFAULT"
  }}
}}
home_server_pool hybridauth_pool {{
  type = fail-over
  home_server = hybridauth
}}
realm hybridauth {{
  auth_pool = hybridauth_pool
  acct_pool = hybridauth_pool
  nostrip
}}
modules {{
}}
client nas {{
  ipaddr = 127.0.0.1
  secret = {secret}
}}
server default {{
  listen {{
    type = auth
    ipaddr = 127.0.0.1
    port = {auth}
  }}
  listen {{
    type = acct
    ipaddr = 127.0.0.1
    port = {acct}
  }}
  authorize {{
    update control {{
      &Proxy-To-Realm := "hybridauth"
    }}
  }}
  preacct {{
    update control {{
      &Proxy-To-Realm := "hybridauth"
    }}
  }}
  authenticate {{
  }}
}}
"""


def main():
    try:
        lab = Lab()
    except Exception as e:  # noqa: BLE001
        print(f"FAIL  start_server: {e}")
        print("interop: 0 passed, 1 failed")
        return 1
    lab.cli("user", "add", "alice", "--password", "Winter2026!", "--mfa", "enforced", "--mail", "alice@contoso.com", "--groups", "staff")
    lab.cli("user", "add", "dora", "--password", "Dora-pass-1")
    lab.cli("user", "add", "svc-app", "--password", "Svc-pass-1")
    lab.cli("tenant", "set", "allow-app-passwords", "on")
    ap = json.loads(lab.cli("app-password", "create", "alice", "--name", "Mail", "--json").stdout)["secret"]
    lab.cli("sync", "now")
    R = f"127.0.0.1:{lab.radius}"

    def radclient(server, attrs, code="auth", extra=()):
        return run(["radclient", "-x", "-r", "1", "-t", "2", *extra, server, code, SECRET], stdin=attrs)

    def radtest_accept_and_reject_on_prem():
        p = run(["radtest", "-x", "dora", "Dora-pass-1", R, "0", SECRET])
        assert "Access-Accept" in p.stdout, p.stdout + p.stderr
        p = run(["radtest", "-x", "dora", "wrong", R, "0", SECRET])
        assert "Access-Reject" in p.stdout, p.stdout + p.stderr

    def radclient_app_password_rejected_on_prem_accepted_by_cloud_over_ipv6():
        p = radclient(R, f"User-Name=alice\nUser-Password={ap}\nMessage-Authenticator=0x00\n")
        assert "Access-Reject" in p.stdout, p.stdout + p.stderr
        p = radclient(f"[::1]:{lab.radius}", f"User-Name=alice@contoso.com\nUser-Password={ap}\n")
        assert "Access-Accept" in p.stdout, p.stdout + p.stderr

    def radclient_without_message_authenticator_gets_no_answer():
        p = radclient(R, "User-Name=dora\nUser-Password=Dora-pass-1\n")
        assert "Received Access-" not in p.stdout and p.returncode != 0, p.stdout

    def radclient_wrong_secret_gets_no_answer():
        p = run(["radclient", "-x", "-r", "1", "-t", "2", R, "auth", "not-the-secret"], stdin="User-Name=dora\nUser-Password=Dora-pass-1\nMessage-Authenticator=0x00\n")
        assert "Received Access-" not in p.stdout and p.returncode != 0, p.stdout

    def unknown_client_gets_no_answer():
        import pyrad.client, pyrad.dictionary, pyrad.packet
        c = pyrad.client.Client(server="127.0.0.1", authport=lab.radius, secret=SECRET.encode(), dict=pyrad.dictionary.Dictionary(os.path.join(HERE, "dictionary")))
        c.bind(("127.0.0.3", 0))
        c.timeout, c.retries = 1, 1
        req = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name="dora")
        req["User-Password"] = req.PwCrypt("Dora-pass-1")
        try:
            c.SendPacket(req)
            raise AssertionError("an unknown client was answered")
        except pyrad.client.Timeout:
            pass

    def pyrad_accept_with_message_authenticator_and_retransmission():
        import pyrad.client, pyrad.dictionary, pyrad.packet
        c = pyrad.client.Client(server="127.0.0.1", authport=lab.radius, secret=SECRET.encode(), dict=pyrad.dictionary.Dictionary(os.path.join(HERE, "dictionary")))
        c.timeout, c.retries = 2, 1
        req = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name="CONTOSO\\dora")
        req["User-Password"] = req.PwCrypt("Dora-pass-1")
        req.add_message_authenticator()
        before = len(lab.signin("onprem"))
        raw = req.RequestPacket()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        answers = []
        for _ in range(2):
            s.sendto(raw, ("127.0.0.1", lab.radius))
            answers.append(s.recv(4096))
        assert answers[0] == answers[1], "a retransmission is answered identically"
        reply = req.CreateReply(packet=answers[0])
        assert reply.code == pyrad.packet.AccessAccept, reply.code
        assert req.VerifyReply(reply, answers[0]), "Response Authenticator"
        assert reply.verify_message_authenticator(original_authenticator=req.authenticator), "Message-Authenticator"
        assert len(lab.signin("onprem")) == before + 1, "one sign-in log entry for two transmissions"

    def status_server_answered():
        p = radclient(R, "Message-Authenticator=0x00\n", code="status")
        assert "Access-Accept" in p.stdout, p.stdout + p.stderr

    def accounting_recorded_and_answered():
        p = radclient(f"127.0.0.1:{lab.acct}", "Acct-Status-Type=Start\nAcct-Session-Id=abc123\nUser-Name=dora\nAcct-Input-Octets=42\n", code="acct")
        assert "Accounting-Response" in p.stdout, p.stdout + p.stderr
        with open(os.path.join(lab.dir, "accounting.jsonl")) as f:
            recs = [json.loads(l) for l in f]
        assert recs[-1]["session_id"] == "abc123" and recs[-1]["status_type"] == "Start", recs[-1]

    L = f"ldap://127.0.0.1:{lab.ldap}"

    def ldapwhoami_every_login_form():
        for login in ["dora", "dora@contoso.com", "CONTOSO\\dora", "CN=dora,CN=Users,DC=contoso,DC=com"]:
            p = run(["ldapwhoami", "-x", "-H", L, "-D", login, "-w", "Dora-pass-1"])
            assert p.returncode == 0 and "u:CONTOSO\\dora" in p.stdout, (login, p.stdout, p.stderr)

    def ldapwhoami_unauthenticated_bind_refused():
        p = run(["ldapwhoami", "-x", "-H", L, "-D", "dora", "-w", ""])
        assert p.returncode != 0 and "unwilling" in p.stderr.lower(), p.stderr

    def ldapwhoami_shows_ad_data_codes():
        lab.cli("tenant", "set", "ad-lockout-threshold", "2")
        lab.cli("user", "add", "lock", "--password", "Lock-pass-1")
        lab.cli("user", "add", "gone", "--password", "Gone-pass-1")
        lab.cli("user", "disable", "gone")
        lab.cli("user", "add", "temp", "--password", "Temp-pass-1")
        lab.cli("user", "reset-password", "temp", "--password", "Temp-pass-2", "--must-change")
        cases = [("dora", "wrong", "52e"), ("nobody", "x", "525"), ("gone", "Gone-pass-1", "533"), ("temp", "Temp-pass-2", "773")]
        run(["ldapwhoami", "-x", "-H", L, "-D", "lock", "-w", "bad1"])
        run(["ldapwhoami", "-x", "-H", L, "-D", "lock", "-w", "bad2"])
        cases.append(("lock", "Lock-pass-1", "775"))
        for login, pw, code in cases:
            p = run(["ldapwhoami", "-x", "-H", L, "-D", login, "-w", pw])
            assert p.returncode != 0 and f"data {code}" in p.stderr, (login, code, p.stderr)
        lab.cli("tenant", "set", "ad-lockout-threshold", "0")

    def ldap_app_password_refused_on_prem_accepted_on_cloud_listener():
        p = run(["ldapwhoami", "-x", "-H", L, "-D", "alice", "-w", ap])
        assert "data 52e" in p.stderr, p.stderr
        p = run(["ldapwhoami", "-x", "-H", f"ldap://127.0.0.1:{lab.ldap_cloud}", "-D", "alice@contoso.com", "-w", ap])
        assert p.returncode == 0, p.stderr

    def ldaps_and_starttls():
        env = dict(os.environ, LDAPTLS_REQCERT="never")
        p = subprocess.run(["ldapwhoami", "-x", "-H", f"ldaps://127.0.0.1:{lab.ldaps}", "-D", "dora", "-w", "Dora-pass-1"], capture_output=True, text=True, env=env, timeout=20)
        assert p.returncode == 0 and "dora" in p.stdout, p.stderr
        p = subprocess.run(["ldapwhoami", "-ZZ", "-x", "-H", f"ldap://127.0.0.1:{lab.ldap_tls}", "-D", "dora", "-w", "Dora-pass-1"], capture_output=True, text=True, env=env, timeout=20)
        assert p.returncode == 0 and "dora" in p.stdout, p.stderr

    def starttls_listener_refuses_a_cleartext_simple_bind():
        # require_tls defaults to true on a StartTLS listener, as an AD DC requiring LDAP signing.
        p = run(["ldapwhoami", "-x", "-H", f"ldap://127.0.0.1:{lab.ldap_tls}", "-D", "dora", "-w", "Dora-pass-1"])
        assert p.returncode == 8 and "00002028" in p.stderr, (p.returncode, p.stderr)

    def radclient_proxy_state_comes_back_in_order():
        p = radclient(R, "User-Name=dora\nUser-Password=Dora-pass-1\nMessage-Authenticator=0x00\nProxy-State=0x6f6e65\nProxy-State=0x74776f\n")
        assert "Access-Accept" in p.stdout, p.stdout + p.stderr
        reply = p.stdout.split("Received Access-Accept", 1)[1]
        states = [l.split("=", 1)[1].strip() for l in reply.splitlines() if "Proxy-State" in l]
        assert states == ["0x6f6e65", "0x74776f"], p.stdout

    def ldapsearch_root_dse_anonymously():
        p = run(["ldapsearch", "-x", "-H", L, "-s", "base", "-b", "", "(objectClass=*)", "namingContexts", "supportedLDAPVersion"])
        assert "namingContexts: DC=contoso,DC=com" in p.stdout and "supportedLDAPVersion: 3" in p.stdout, p.stdout

    def ldapsearch_search_then_bind():
        p = run(["ldapsearch", "-x", "-LLL", "-H", L, "-D", "svc-app", "-w", "Svc-pass-1", "-b", "DC=contoso,DC=com", "(&(objectClass=user)(sAMAccountName=dora))", "dn"])
        assert "dn: CN=dora,CN=Users,DC=contoso,DC=com" in p.stdout, p.stdout + p.stderr
        p = run(["ldapsearch", "-x", "-LLL", "-H", L, "-b", "DC=contoso,DC=com", "(sAMAccountName=dora)"])
        assert p.returncode == 50, "anonymous search refused: insufficientAccessRights"
        # Nextcloud-style AD filter: people, enabled accounts only (bitwise matching rule).
        enabled_people = "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
        p = run(["ldapsearch", "-x", "-LLL", "-H", L, "-D", "svc-app", "-w", "Svc-pass-1", "-b", "DC=contoso,DC=com", enabled_people, "sAMAccountName"])
        names = [l.split(": ", 1)[1] for l in p.stdout.splitlines() if l.startswith("sAMAccountName: ")]
        assert "dora" in names and "gone" not in names, names

    def ldap3_search_then_bind_flow():
        import ldap3
        lab.cli("user", "unlock", "alice")  # earlier cases spent alice's bad attempts
        server = ldap3.Server("127.0.0.1", port=lab.ldap)
        svc = ldap3.Connection(server, user="svc-app", password="Svc-pass-1")
        assert svc.bind(), svc.result
        svc.search("DC=contoso,DC=com", "(mail=alice@contoso.com)", attributes=["sAMAccountName", "memberOf"])
        assert len(svc.entries) == 1, svc.entries
        dn = svc.entries[0].entry_dn
        assert "CN=staff" in str(svc.entries[0].memberOf)
        user = ldap3.Connection(server, user=dn, password="Winter2026!")
        assert user.bind(), user.result
        assert user.extend.standard.who_am_i() == "u:CONTOSO\\alice"
        assert not ldap3.Connection(server, user=dn, password="wrong").bind()
        assert svc.rebind(user=dn, password="Winter2026!") and svc.rebind(user="svc-app", password="Svc-pass-1")
        assert svc.extend.standard.who_am_i() == "u:CONTOSO\\svc-app"

    def ldap3_default_get_info_reads_root_dse():
        import ldap3
        # Default get_info (SCHEMA) reads the rootDSE right after bind; ALL shows what it found.
        conn = ldap3.Connection(ldap3.Server("127.0.0.1", port=lab.ldap), user="dora@contoso.com", password="Dora-pass-1", auto_bind=True)
        assert conn.search("DC=contoso,DC=com", "(sAMAccountName=dora)") and len(conn.entries) == 1, conn.result
        conn.unbind()
        server = ldap3.Server("127.0.0.1", port=lab.ldap, get_info=ldap3.ALL)
        ldap3.Connection(server, user="dora@contoso.com", password="Dora-pass-1", auto_bind=True).unbind()
        assert "DC=contoso,DC=com" in str(server.info.naming_contexts), server.info

    def ldapsearch_and_ldap3_read_the_directory_in_pages():
        # RFC 2696 paged results (1.2.840.113556.1.4.319), as AD sync tools read a directory.
        for i in range(12):
            lab.cli("user", "add", f"page{i:02d}", "--password", "Page-pass-1")
        auth = ["-x", "-LLL", "-H", L, "-D", "svc-app", "-w", "Svc-pass-1", "-b", "DC=contoso,DC=com"]
        p = run(["ldapsearch", *auth, "-E", "pr=5/noprompt", "(sAMAccountName=page*)", "dn"])
        dns = [l for l in p.stdout.splitlines() if l.startswith("dn: ")]
        assert p.returncode == 0 and len(dns) == 12 and len(set(dns)) == 12, (p.returncode, dns, p.stderr)
        assert p.stdout.count("pagedresults") >= 3, p.stdout  # ldapsearch prints each page's control
        # Without paging, the client's size limit: 3 entries, then sizeLimitExceeded (4).
        p = run(["ldapsearch", *auth, "-z", "3", "(sAMAccountName=page*)", "dn"])
        assert p.returncode == 4 and p.stdout.count("dn: ") == 3, (p.returncode, p.stdout, p.stderr)
        import ldap3
        conn = ldap3.Connection(ldap3.Server("127.0.0.1", port=lab.ldap), user="svc-app", password="Svc-pass-1", auto_bind=True)
        one = lambda v: v[0] if isinstance(v, list) else v  # noqa: E731 - no schema: values come as lists
        names = [one(e["attributes"]["sAMAccountName"]) for e in conn.extend.standard.paged_search(
            "DC=contoso,DC=com", "(objectClass=user)", attributes=["sAMAccountName"], paged_size=4, generator=True)]
        assert len(names) == len(set(names)) and {f"page{i:02d}" for i in range(12)} <= set(names), names
        assert "dora" in names and "svc-app" in names, names

    def prometheus_parser_reads_metrics_counting_radtest_decisions():
        # The exposition is read by Prometheus's own Python parser (a format error raises).
        from prometheus_client.parser import text_string_to_metric_families

        def scrape():
            p = run(["curl", "-sS", "--fail", f"http://127.0.0.1:{lab.admin}/metrics"])
            assert p.returncode == 0, p.stderr
            out = {}
            for fam in text_string_to_metric_families(p.stdout):
                for smp in fam.samples:
                    out[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
            return out

        key = ("hybridauth_decisions_total", (("door", "radius"), ("endpoint", "on-prem"), ("outcome", "accept"), ("rule", "onprem.accept")))
        before = scrape().get(key, 0)
        p = run(["radtest", "-x", "dora", "Dora-pass-1", R, "0", SECRET])
        assert "Access-Accept" in p.stdout, p.stdout + p.stderr
        after = scrape()
        assert after.get(key, 0) == before + 1, (before, after.get(key))
        assert after[("hybridauth_ldap_connections_open", ())] >= 0
        assert any(n == "hybridauth_request_duration_seconds_bucket" for n, _ in after), "latency histogram"

    def radclient_sees_the_vlan_policy_and_accounting_keeps_the_class():
        p = radclient(R, "User-Name=alice\nUser-Password=Winter2026!\nMessage-Authenticator=0x00\n")
        out = p.stdout
        assert "Access-Accept" in out, out + p.stderr
        for line in ['Tunnel-Type:0 = VLAN', 'Tunnel-Medium-Type:0 = IEEE-802', 'Tunnel-Private-Group-Id:0 = "42"', 'Session-Timeout = 3600']:
            assert line in out, (line, out)
        # dora is in no group: an accept with no VLAN.
        p = radclient(R, "User-Name=dora\nUser-Password=Dora-pass-1\nMessage-Authenticator=0x00\n")
        assert "Access-Accept" in p.stdout and "Tunnel-" not in p.stdout, p.stdout
        # The NAS echoes Class in accounting; the accounting log records it.
        p = radclient(f"127.0.0.1:{lab.acct}", "Acct-Status-Type=Start\nAcct-Session-Id=vlan1\nUser-Name=alice\nClass=0x" + b"staff-vlan".hex() + "\n", code="acct")
        assert "Accounting-Response" in p.stdout, p.stdout + p.stderr
        with open(os.path.join(lab.dir, "accounting.jsonl")) as f:
            recs = [json.loads(l) for l in f if l.strip()]
        assert any(r.get("session_id") == "vlan1" and r.get("class") == ["staff-vlan"] for r in recs), recs[-1]

    def radtest_mschap_accepts_the_domain_password_and_rejects_a_wrong_one():
        # radtest -t mschap: MS-CHAP (RFC 2433) as radclient computes it from MS-CHAP-Password.
        p = run(["radtest", "-t", "mschap", "-x", "dora", "Dora-pass-1", R, "0", SECRET])
        assert "Access-Accept" in p.stdout, p.stdout + p.stderr
        assert "MS-CHAP-MPPE-Keys" in p.stdout and "MS-MPPE-Encryption-Policy" in p.stdout, p.stdout
        p = run(["radtest", "-t", "mschap", "-x", "dora", "not-it", R, "0", SECRET])
        assert "Access-Reject" in p.stdout and "E=691" in p.stdout, p.stdout + p.stderr
        # An app password never works over MS-CHAP (the cloud alone knows it, as cleartext).
        p = run(["radtest", "-t", "mschap", "-x", "alice", ap, R, "0", SECRET])
        assert "Access-Reject" in p.stdout, p.stdout

    cert_path = os.path.join(lab.dir, "cert.pem")
    eapol_runs = [0]

    def eapol(method, phase2, identity, password, source=None):
        # A supplicant nobody here wrote: wpa_supplicant's eapol_test, trusting the lab CA.
        eapol_runs[0] += 1
        conf = os.path.join(lab.dir, f"eapol-{eapol_runs[0]}.conf")
        with open(conf, "w") as f:
            f.write(f'network={{\n key_mgmt=WPA-EAP\n eap={method}\n identity="{identity}"\n'
                    f' anonymous_identity="anonymous@contoso.com"\n password="{password}"\n'
                    f' phase2="{phase2}"\n ca_cert="{cert_path}"\n}}\n')
        cmd = ["eapol_test", "-c", conf, "-a", "127.0.0.1", "-p", str(lab.radius), "-s", SECRET, "-r", "0", "-t", "10"]
        if source:
            cmd += ["-A", source]
        return run(cmd, timeout=40)

    EAP_METHODS = [("TTLS", "auth=PAP"), ("TTLS", "auth=MSCHAPV2"), ("PEAP", "auth=MSCHAPV2"), ("PEAP", "auth=GTC")]

    def eapol_test_ttls_and_peap_accept_with_matching_mppe_keys():
        for method, phase2 in EAP_METHODS:
            p = eapol(method, phase2, "dora", "Dora-pass-1")
            assert p.returncode == 0 and p.stdout.rstrip().endswith("SUCCESS"), (method, phase2, p.stdout[-2000:])
            assert "MPPE keys OK: 1  mismatch: 0" in p.stdout, (method, phase2)
            last = lab.signin("onprem")[-1]
            assert last["login"] == "dora" and last["outer_identity"] == "anonymous@contoso.com", last
            assert last["rule"] == "onprem.accept", last

    def eapol_test_wrong_password_fails_with_the_model_reason():
        for method, phase2 in EAP_METHODS:
            p = eapol(method, phase2, "dora", "not-doras")
            assert p.returncode != 0 and "FAILURE" in p.stdout, (method, phase2, p.stdout[-1500:])
            last = lab.signin("onprem")[-1]
            assert last["rule"] == "onprem.bad-password" and last["codes"]["nps"] == 16, last

    def eapol_test_ttls_pap_app_password_cloud_accepts_on_prem_refuses():
        p = eapol("TTLS", "auth=PAP", "alice", ap)
        assert p.returncode != 0, p.stdout[-1500:]
        last = lab.signin("onprem")[-1]
        assert last["rule"] == "onprem.bad-password" and last["codes"]["ad"] == "52e", last
        p = eapol("TTLS", "auth=PAP", "alice@contoso.com", ap, source="127.0.0.2")
        assert p.returncode == 0 and "MPPE keys OK: 1" in p.stdout, p.stdout[-1500:]
        last = lab.signin("cloud")[-1]
        assert last["rule"] == "cloud.app-password.accept" and last["app_password"] == "Mail", last

    def eapol_test_puts_a_staff_member_on_the_vlan():
        p = eapol("PEAP", "auth=MSCHAPV2", "alice", "Winter2026!")
        assert p.returncode == 0, p.stdout[-1500:]
        accept = p.stdout[p.stdout.rfind("(Access-Accept)"):]
        assert "Attribute 81 (Tunnel-Private-Group-Id)" in accept and "Attribute 64 (Tunnel-Type)" in accept, accept[:1500]
        assert "staff-vlan" in lab.signin("onprem")[-1]["explanation"]

    def curl_healthz_and_hybridauth_health_agree():
        p = run(["curl", "-sS", "-w", "\n%{http_code}", f"http://127.0.0.1:{lab.admin}/healthz"])
        body, code = p.stdout.rsplit("\n", 1)
        assert code == "200" and body.startswith("healthy"), p.stdout
        h = lab.cli("--json", "health")
        v = json.loads(h.stdout)
        assert v["healthy"] is True and all(l["serving"] for l in v["listeners"]), v
        assert len(v["listeners"]) == 8, v  # 2 RADIUS auth, 1 accounting, 4 LDAP, 1 admin

    def chromium_page_shows_a_decision_live_and_the_cloud_following_the_clock():
        # The page in headless Chromium (driven by chromedriver through Selenium): load it, see
        # a RADIUS decision appear in the on-prem log without reloading, disable the user and
        # see the cloud still holding it enabled, press the object-sync button and see the
        # cloud state change, in the table and in the timeline drawing. Last: it moves the clock.
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        opts = webdriver.ChromeOptions()
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100"):
            opts.add_argument(a)
        opts.binary_location = "/usr/bin/chromium"
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        try:
            lab.cli("user", "add", "paige", "--password", "Paige-pass-1", "--groups", "staff")
            lab.cli("sync", "now")
            driver.get(f"http://127.0.0.1:{lab.admin}/")
            # The page re-renders its tables as data arrives: read them in one script call each
            # (an element found in one call may be replaced before the next).
            from selenium.common.exceptions import StaleElementReferenceException
            wait = WebDriverWait(driver, 20, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException])
            PAIGE = '#users tbody tr[data-sam="paige"]'
            attr = lambda sel, name: driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null", sel, name)
            count = lambda sel: driver.execute_script("return document.querySelectorAll(arguments[0]).length", sel)
            def click(sel):
                driver.find_element(By.CSS_SELECTOR, sel).click()
                return True
            wait.until(lambda d: attr(PAIGE, "data-cloud") == "enabled")
            wait.until(lambda d: d.find_element(By.ID, "live").text == "live")
            assert driver.find_element(By.ID, "advance-object").is_displayed()
            # A decision appears in the on-prem log as it is made.
            p = run(["radtest", "-x", "paige", "Paige-pass-1", R, "0", SECRET])
            assert "Access-Accept" in p.stdout, p.stdout + p.stderr
            wait.until(lambda d: count('#log-on-prem tbody tr[data-user="paige"][data-outcome="accept"]') > 0)
            # Disabled on-prem: the cloud keeps it until the next object-sync cycle.
            lab.cli("user", "disable", "paige")
            wait.until(lambda d: attr(PAIGE, "data-onprem") == "disabled")
            assert attr(PAIGE, "data-cloud") == "enabled"
            wait.until(lambda d: click(PAIGE))
            wait.until(lambda d: count("#timeline svg rect.band.cloud.disabled.pending") > 0)
            assert count("#timeline svg circle.signin.accept") > 0
            wait.until(lambda d: click("#advance-object"))
            wait.until(lambda d: attr(PAIGE, "data-cloud") == "disabled")
            wait.until(lambda d: count("#timeline svg rect.band.cloud.disabled:not(.pending)") > 0)
            page = driver.page_source
            for secret in ("Paige-pass-1", SECRET, ap):
                assert secret not in page, f"a secret is on the page"
            shot = os.environ.get("PAGE_SCREENSHOT")
            if shot:
                driver.save_screenshot(shot)
        finally:
            driver.quit()

    def apache_mod_authnz_ldap_search_then_bind_and_group_on_prem_and_cloud():
        # A real web application's LDAP module (Apache httpd's mod_authnz_ldap): it searches for
        # the user with a service account, binds with the DN it found, then checks the group by
        # comparing `member` on the group entry (Require ldap-group). On the on-prem listener
        # with the domain password; on the cloud listener by UPN with an app password, where the
        # DN the search returned stands for the UPN (reference §4d).
        import urllib.request, urllib.error, base64
        lab.cli("user", "set", "alice", "--groups", "staff,vpn-users")
        lab.cli("user", "unlock", "alice")
        lab.cli("user", "add", "erin", "--password", "Erin-pass-1", "--groups", "sales")
        lab.cli("sync", "now")
        # Its own directory: the lab's is private (0700) and httpd's workers run as nobody.
        www = tempfile.mkdtemp(prefix="hybridauth-interop-httpd-")
        os.makedirs(os.path.join(www, "htdocs"), exist_ok=True)
        port = free(socket.SOCK_STREAM)
        mods = "/usr/lib/apache2/modules"
        group = "CN=vpn-users,CN=Users,DC=contoso,DC=com"
        def location(path, ldap_port, attr, bind_dn):
            return f'''
<Location /{path}>
  AuthType Basic
  AuthName "{path}"
  AuthBasicProvider ldap
  AuthLDAPURL "ldap://127.0.0.1:{ldap_port}/DC=contoso,DC=com?{attr}?sub?(objectClass=user)"
  AuthLDAPBindDN "{bind_dn}"
  AuthLDAPBindPassword "Svc-pass-1"
  AuthLDAPGroupAttribute member
  AuthLDAPGroupAttributeIsDN on
  AuthLDAPMaxSubGroupDepth 0
  Require ldap-group {group}
</Location>
'''
        conf = os.path.join(www, "httpd.conf")
        with open(conf, "w") as f:
            f.write(f'''
ServerRoot "{www}"
ServerName localhost
Listen 127.0.0.1:{port}
PidFile "{www}/httpd.pid"
DefaultRuntimeDir "{www}"
ErrorLog "{www}/error.log"
LogLevel warn authnz_ldap:debug
DocumentRoot "{www}/htdocs"
User nobody
Group nogroup
LoadModule mpm_event_module {mods}/mod_mpm_event.so
LoadModule authn_core_module {mods}/mod_authn_core.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule authz_user_module {mods}/mod_authz_user.so
LoadModule auth_basic_module {mods}/mod_auth_basic.so
LoadModule ldap_module {mods}/mod_ldap.so
LoadModule authnz_ldap_module {mods}/mod_authnz_ldap.so
LDAPCacheEntries 0
LDAPOpCacheEntries 0
''' + location("onprem", lab.ldap, "sAMAccountName", "svc-app")
      + location("cloud", lab.ldap_cloud, "userPrincipalName", "svc-app@contoso.com"))
        for d in (www, os.path.join(www, "htdocs")):
            os.chmod(d, 0o755)
        httpd = subprocess.Popen(["/usr/sbin/apache2", "-f", conf, "-DFOREGROUND"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert httpd.poll() is None, httpd.stderr.read().decode()
                    time.sleep(0.05)
            def status(path, user, password):
                req = urllib.request.Request(f"http://127.0.0.1:{port}/{path}")
                req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
                try:
                    return urllib.request.urlopen(req, timeout=20).status
                except urllib.error.HTTPError as e:
                    return e.code
            # Authorised: the page itself is missing (404); refused: 401.
            got = {
                "on-prem member, domain password": status("onprem", "alice", "Winter2026!"),
                "on-prem member, wrong password": status("onprem", "alice", "wrong"),
                "on-prem non-member": status("onprem", "erin", "Erin-pass-1"),
                "on-prem member, app password": status("onprem", "alice", ap),
                "cloud member, app password": status("cloud", "alice@contoso.com", ap),
                "cloud member, domain password (MFA enforced)": status("cloud", "alice@contoso.com", "Winter2026!"),
                "cloud non-member": status("cloud", "erin@contoso.com", "Erin-pass-1"),
            }
            want = {
                "on-prem member, domain password": 404,
                "on-prem member, wrong password": 401,
                "on-prem non-member": 401,
                "on-prem member, app password": 401,
                "cloud member, app password": 404,
                "cloud member, domain password (MFA enforced)": 401,
                "cloud non-member": 401,
            }
            errlog = open(os.path.join(www, "error.log")).read()
            assert got == want, (got, errlog[-3000:])
            # The cloud decision names the DN as sent and the UPN it stood for.
            rec = [r for r in lab.signin("cloud") if r.get("dn_stands_for") == "alice@contoso.com"]
            assert rec and rec[-1]["login"].lower().startswith("cn=alice,"), lab.signin("cloud")[-3:]
        finally:
            httpd.terminate()
            httpd.wait(timeout=15)

    for fn in [radtest_accept_and_reject_on_prem, radclient_app_password_rejected_on_prem_accepted_by_cloud_over_ipv6,
               radclient_without_message_authenticator_gets_no_answer, radclient_wrong_secret_gets_no_answer,
               unknown_client_gets_no_answer, pyrad_accept_with_message_authenticator_and_retransmission,
               status_server_answered, accounting_recorded_and_answered, ldapwhoami_every_login_form,
               ldapwhoami_unauthenticated_bind_refused, ldapwhoami_shows_ad_data_codes,
               ldap_app_password_refused_on_prem_accepted_on_cloud_listener, ldaps_and_starttls,
               starttls_listener_refuses_a_cleartext_simple_bind, radclient_proxy_state_comes_back_in_order,
               ldapsearch_root_dse_anonymously, ldapsearch_search_then_bind, ldap3_search_then_bind_flow,
               ldap3_default_get_info_reads_root_dse, ldapsearch_and_ldap3_read_the_directory_in_pages,
               prometheus_parser_reads_metrics_counting_radtest_decisions, curl_healthz_and_hybridauth_health_agree,
               radclient_sees_the_vlan_policy_and_accounting_keeps_the_class,
               radtest_mschap_accepts_the_domain_password_and_rejects_a_wrong_one,
               eapol_test_ttls_and_peap_accept_with_matching_mppe_keys,
               eapol_test_wrong_password_fails_with_the_model_reason,
               eapol_test_ttls_pap_app_password_cloud_accepts_on_prem_refuses,
               eapol_test_puts_a_staff_member_on_the_vlan,
               apache_mod_authnz_ldap_search_then_bind_and_group_on_prem_and_cloud,
               chromium_page_shows_a_decision_live_and_the_cloud_following_the_clock]:
        # INTEROP_ONLY=part-of-a-name runs the matching cases only (while working on one).
        if os.environ.get("INTEROP_ONLY", "") in fn.__name__:
            case(fn)
    lab.stop()
    mfa_cases()
    radsec_cases()
    passed = sum(1 for _, ok, _ in results if ok)
    failed = len(results) - passed
    print(f"interop: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
