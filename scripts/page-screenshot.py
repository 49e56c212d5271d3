#!/usr/bin/env python3
"""Regenerates docs/page.png, the README's picture of the page: a short hybrid story played on
a private lab server (simulated clock, loopback ports), then the page in headless Chromium.

    cargo build && python3 scripts/page-screenshot.py [OUT.png]

Needs what the test suite installs (chromium, chromium-driver, selenium, radclient)."""
import os, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("HYBRIDAUTH_BIN") or os.path.join(ROOT, "target", "debug", "hybridauth")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "page.png")
SECRET = "lab-secret"


sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
from run import free  # noqa: E402 - a free loopback port, as the interop suite picks them


d = tempfile.mkdtemp(prefix="hybridauth-shot-")
radius, admin, ldap = free(socket.SOCK_DGRAM), free(socket.SOCK_STREAM), free(socket.SOCK_STREAM)
config = os.path.join(d, "hybridauth.toml")
with open(config, "w") as f:
    f.write(f'''
[store]
path = "{d}/store.sqlite3"
[clock]
mode = "simulated"
start = "2026-01-05T09:00:00Z"
[hashing]
memory_kib = 1024
iterations = 1
[admin]
listen = "127.0.0.1:{admin}"
[radius]
reject_delay = "0s"
listen = ["127.0.0.1:{radius}", "[::1]:{radius}"]
accounting_listen = []
[[radius.clients]]
name = "vpn-onprem"
network = "127.0.0.1/32"
secret = "{SECRET}"
endpoint = "on-prem"
[[radius.clients]]
name = "mail-cloud"
network = "::1/128"
secret = "{SECRET}"
endpoint = "cloud"
require_message_authenticator = false
[[ldap.listeners]]
address = "127.0.0.1:{ldap}"
endpoint = "on-prem"
''')


def cli(*args):
    p = subprocess.run([BIN, "--config", config, *args], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{args}: {p.stderr}")
    return p.stdout


def sign_in(server, user, password):
    subprocess.run(["radclient", "-r", "1", "-t", "2", server, "auth", SECRET],
                   input=f"User-Name={user}\nUser-Password={password}\nMessage-Authenticator=0x00\n",
                   capture_output=True, text=True)


ONPREM, CLOUD = f"127.0.0.1:{radius}", f"[::1]:{radius}"
log = open(os.path.join(d, "serve.log"), "w")
proc = subprocess.Popen([BIN, "--config", config, "serve"], stdout=log, stderr=log)
try:
    for _ in range(400):
        if "hybridauth ready" in open(os.path.join(d, "serve.log")).read():
            break
        if proc.poll() is not None:
            sys.exit("the server did not start: " + open(os.path.join(d, "serve.log")).read())
        time.sleep(0.05)
    cli("user", "add", "alice", "--password", "Winter2026!", "--mfa", "enforced", "--groups", "staff")
    cli("user", "add", "bob", "--password", "Bob-pass-2026")
    cli("user", "add", "carol", "--password", "Carol-pass-1")
    cli("tenant", "set", "allow-app-passwords", "on")
    import json
    ap = json.loads(cli("app-password", "create", "alice", "--name", "Laptop", "--json"))["secret"]
    cli("sync", "now")
    cli("clock", "advance", "12m")
    sign_in(ONPREM, "bob", "Bob-pass-2026")
    sign_in(CLOUD, "alice@contoso.com", ap)
    sign_in(CLOUD, "alice@contoso.com", "Winter2026!")
    sign_in(ONPREM, "alice", ap)
    cli("clock", "advance", "28m")
    cli("user", "disable", "bob")
    cli("clock", "advance", "5m")
    sign_in(ONPREM, "bob", "Bob-pass-2026")
    sign_in(CLOUD, "bob@contoso.com", "Bob-pass-2026")
    cli("user", "reset-password", "carol", "--password", "Carol-pass-2")
    cli("clock", "advance", "1m")
    sign_in(CLOUD, "carol@contoso.com", "Carol-pass-2")

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1300", "--hide-scrollbars"):
        opts.add_argument(a)
    opts.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.get(f"http://127.0.0.1:{admin}/")
        wait = WebDriverWait(driver, 20, poll_frequency=0.1)
        wait.until(lambda dr: dr.find_elements(By.CSS_SELECTOR, '#users tbody tr[data-sam="bob"]'))
        wait.until(lambda dr: len(dr.find_elements(By.CSS_SELECTOR, "#log-cloud tbody tr")) >= 4)
        driver.find_element(By.CSS_SELECTOR, '#users tbody tr[data-sam="bob"]').click()
        wait.until(lambda dr: dr.find_elements(By.CSS_SELECTOR, "#timeline svg circle"))
        driver.save_screenshot(OUT)
        print(f"wrote {OUT}")
    finally:
        driver.quit()
finally:
    proc.terminate()
    proc.wait(timeout=15)
