// The console in a real browser: headless Chromium (Debian's `chromium`)
// driven by playwright-core, against a real censusd started by
// .ci/browser-tests with a fresh database. The test seeds it through the
// API (people, an agent, a register, two sweeps of a /24 with unknown
// devices, one of them announcing a hostile name), then uses the console
// as a security analyst and as a viewer would. Screenshots go to
// docs/screenshots/ (shown in the README).
//
// Environment: CENSUS_URL (http://127.0.0.1:PORT), CENSUS_ADMIN_TOKEN,
// CHROMIUM (default /usr/bin/chromium), CENSUS_SCREENSHOTS (directory).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const base = process.env.CENSUS_URL;
const admin = process.env.CENSUS_ADMIN_TOKEN;
const shots = process.env.CENSUS_SCREENSHOTS;
const PASSWORD = "a long enough password";
let browser;

async function api(method, path, body, token = admin) {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

function sweep(agent, hosts, minutesAgo) {
  const t = (m) => new Date(Date.now() - m * 60_000).toISOString();
  return {
    schema_version: "1.2",
    batch_id: crypto.randomUUID(),
    agent_id: agent,
    segment: { name: "lab", targets: ["198.18.0.0/24"], excluded: [] },
    started_at: t(minutesAgo + 1),
    finished_at: t(minutesAgo),
    completeness: {
      addresses_in_scope: 254, probes_sent: 254, replies: hosts.length, estimated_loss: 0,
      rate_limit_pps: 1000, rate_achieved_pps: 990, complete: true, techniques: [], enriched: true,
    },
    hosts: hosts.map((h) => ({
      ip: h.ip,
      mac: { address: h.mac, locally_administered: false, vendor: h.vendor },
      seen_by: ["arp"],
      ports: (h.ports || []).map((p) => ({ port: p, protocol: "tcp", state: "open" })),
      names: h.name ? [{ name: h.name, source: "mdns" }] : [],
      fingerprints: [],
      first_seen: t(minutesAgo + 1),
      last_seen: t(minutesAgo),
    })),
  };
}

const HOSTS = [
  { ip: "198.18.0.21", mac: "00:1b:21:3a:00:21", vendor: "Intel Corporate", ports: [22] },
  { ip: "198.18.0.22", mac: "00:1b:21:3a:00:22", vendor: "Intel Corporate", ports: [3389] },
  { ip: "198.18.0.23", mac: "3c:22:fb:3a:00:23", vendor: "Apple, Inc." },
  { ip: "198.18.0.24", mac: "b8:27:eb:3a:00:24", vendor: "Raspberry Pi Foundation", name: "<script>window.pwned=1</script>.local" },
  { ip: "198.18.0.30", mac: "00:50:56:3a:00:30", vendor: "VMware, Inc." },
];

before(async () => {
  assert.ok(base && admin, "CENSUS_URL and CENSUS_ADMIN_TOKEN");
  for (const [name, role] of [["ana", "analyst"], ["vic", "viewer"]]) {
    const r = await api("POST", "/api/v1/users", { name, role, password: PASSWORD });
    assert.equal(r.status, 201, JSON.stringify(r.json));
  }
  const assets = [
    { tag: "SRV-DB-01", name: "Billing database", type: "server", owner: "dba-team", lifecycle: "deployed",
      macs: ["00:50:56:3a:00:30"], expected_segment: "198.18.0.0/24", criticality: "high" },
    { tag: "SRV-OLD-07", name: "Old file server", type: "server", owner: "platform-team", lifecycle: "decommissioned",
      lifecycle_since: "2026-01-15", macs: ["00:1b:21:3a:00:21"] },
  ];
  for (const a of assets) assert.equal((await api("POST", "/api/v1/assets", a)).status, 201);
  const agent = await api("POST", "/api/v1/agents", { name: "agent-lab-1", segments: ["198.18.0.0/24"] });
  assert.equal(agent.status, 201);
  for (const m of [30, 5]) {
    const r = await api("POST", "/api/v1/batches", sweep("agent-lab-1", HOSTS, m), agent.json.token);
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }
  assert.equal((await api("POST", "/api/v1/reconcile")).status, 200);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  if (browser) await browser.close();
});

async function signedIn(name) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  // Dialogs are refused and recorded (a script that ran would show here),
  // but for the confirmation a test says it expects (`confirmNext`).
  const dialogs = [];
  const ctl = { confirmNext: false };
  page.on("dialog", (d) => {
    if (ctl.confirmNext && d.type() === "confirm") {
      ctl.confirmNext = false;
      d.accept();
    } else {
      dialogs.push(d.message());
      d.dismiss();
    }
  });
  await page.goto(base + "/");
  assert.match(page.url(), /\/login\?next=/);
  await page.fill("input[name=name]", name);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForSelector("table#alerts");
  return { context, page, dialogs, ctl };
}

test("an analyst signs in, filters, bulk-acknowledges three alerts, and the audit log names her", async () => {
  const { context, page, dialogs } = await signedIn("ana");
  for (const h of HOSTS.slice(1, 4)) assert.ok(await page.locator(`tr:has-text("${h.ip}")`).count() > 0, h.ip);
  assert.ok(await page.locator("tr.group").count() >= 2, "grouped by kind");
  if (shots) await page.screenshot({ path: `${shots}/console-queue.png`, fullPage: true });

  // Filter to unknown devices.
  await page.selectOption("select[name=kind]", "unknown-asset");
  await page.click("form.filters button[type=submit]");
  await page.waitForURL(/kind=unknown-asset/);
  assert.equal(await page.locator("tr.group").count(), 1);

  // Select three and acknowledge.
  const boxes = page.locator("table#alerts input[name=id]");
  assert.ok(await boxes.count() >= 3);
  const ids = [];
  for (let i = 0; i < 3; i++) {
    ids.push(await boxes.nth(i).getAttribute("value"));
    await boxes.nth(i).check();
  }
  await page.click("button[value=ack]");
  await page.waitForURL(/done=ack/);
  await page.waitForSelector("div.flash");
  assert.match(await page.textContent("div.flash"), /Acknowledged 3 alert/);
  for (const id of ids) {
    assert.match(await page.textContent(`tr[data-alert="${id}"]`), /acknowledged\s*by ana/);
  }
  const audit = await api("GET", "/api/v1/audit?actor=ana&action=alert.acknowledge");
  assert.deepEqual(audit.json.records.map((r) => r.subject).sort(), ids.map((i) => `alert:${i}`).sort());

  // The hostile name is text, and nothing ran.
  await page.goto(base + "/?q=198.18.0.24");
  assert.ok((await page.textContent("table#alerts")).includes("<script>window.pwned=1</script>"));
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.deepEqual(dialogs, []);

  // A form posted without the CSRF token is refused.
  const status = await page.evaluate(async (id) => {
    const r = await fetch("/alerts/act", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `action=resolve&id=${id}` });
    return r.status;
  }, ids[0]);
  assert.equal(status, 403);
  await context.close();
});

test("a search finds the should-be-retired asset; its page shows the verdict and its timeline", async () => {
  const { context, page } = await signedIn("ana");
  await page.goto(base + "/inventory");
  await page.fill("input[name=q]", "lifecycle:decommissioned seen:<1d");
  await page.click("form.filters button[type=submit]");
  await page.waitForURL(/q=lifecycle/);
  const rows = page.locator("table#assets tbody tr");
  assert.equal(await rows.count(), 1, "only the decommissioned asset seen today");
  await page.click("a:has-text('SRV-OLD-07')");
  await page.waitForSelector("#verdict");
  assert.match(await page.textContent("#verdict"), /should not exist|decommissioned|retired/i);
  assert.ok(await page.locator("table#timeline tr").count() >= 2, "register edit and sighting in the timeline");
  assert.match(await page.textContent("table#asset-alerts"), /should-be-retired/);
  if (shots) await page.screenshot({ path: `${shots}/console-asset.png`, fullPage: true });
  await context.close();
});

test("a viewer sees no action buttons and a forged POST from the viewer's session gets 403", async () => {
  const { context, page } = await signedIn("vic");
  assert.equal(await page.locator("button[value=ack]").count(), 0);
  assert.equal(await page.locator("table#alerts input[type=checkbox]").count(), 0);
  const open = (await api("GET", "/api/v1/alerts?state=open")).json;
  const id = open[0].id;
  const csrf = await page.getAttribute("form[action='/logout'] input[name=csrf]", "value");
  const status = await page.evaluate(async ([id, csrf]) => {
    const r = await fetch("/alerts/act", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `csrf=${csrf}&action=ack&id=${id}` });
    return r.status;
  }, [id, csrf]);
  assert.equal(status, 403);
  assert.equal((await api("GET", `/api/v1/alerts/${id}`)).json.state, "open");
  await context.close();
});

async function rowAction(page, ip, label) {
  await page.goto(base + "/?q=" + ip);
  await page.click(`tr:has-text("${ip}") >> text=${label}`);
}

test("an unknown device adopted as an asset: its alert resolves and it is in the inventory with its MAC", async () => {
  const { context, page } = await signedIn("ana");
  await rowAction(page, "198.18.0.23", "Adopt");
  await page.waitForSelector("input[name=tag]");
  assert.equal(await page.inputValue("input[name=macs]"), "3c:22:fb:3a:00:23", "prefilled from the evidence");
  await page.fill("input[name=owner]", "it-desk");
  await page.selectOption("select[name=type]", "endpoint");
  const tag = await page.inputValue("input[name=tag]");
  await page.click("button:has-text('Add to the register')");
  await page.waitForSelector("#verdict");
  assert.match(await page.textContent("dl.facts"), /3c:22:fb:3a:00:23/);
  assert.match(await page.textContent("dl.facts"), /it-desk/);
  const alerts = (await api("GET", "/api/v1/alerts?kind=unknown-asset")).json;
  assert.ok(!alerts.some((a) => a.ip === "198.18.0.23"), "the device's alert is resolved");
  await page.goto(base + "/inventory");
  assert.ok((await page.textContent("table#assets")).includes(tag));
  await context.close();
});

test("a device linked to an existing asset adds its MAC to that asset", async () => {
  const { context, page } = await signedIn("ana");
  await rowAction(page, "198.18.0.22", "Link");
  await page.fill("input[name=tag]", "SRV-DB-01");
  await page.click("button:has-text('Link and resolve')");
  await page.waitForSelector("#verdict");
  const facts = await page.textContent("dl.facts");
  assert.match(facts, /00:1b:21:3a:00:22/);
  assert.match(facts, /00:50:56:3a:00:30/, "its own MAC stays");
  const asset = (await api("GET", "/api/v1/assets/SRV-DB-01")).json;
  assert.ok(asset.macs.includes("00:1b:21:3a:00:22"));
  await context.close();
});

test("suppress by vendor: the preview counts what the rule holds before it is saved", async () => {
  const { context, page } = await signedIn("ana");
  await rowAction(page, "198.18.0.24", "Suppress…");
  await page.waitForSelector("#preview");
  assert.match(await page.textContent("#preview"), /holds 1 live alert/);
  assert.equal(await page.inputValue("input[name=vendor]"), "Raspberry Pi Foundation");
  await page.fill("input[name=reason]", "lab sensors, tracked in the lab inventory");
  await page.click("button[value=save]");
  // The suppress page's preview is a banner too: wait for the queue's.
  await page.waitForURL(/done=rule/);
  await page.waitForSelector("table#alerts");
  assert.match(await page.textContent("div.flash"), /Suppression rule \d+ saved; it holds 1 live alert/);
  const rules = (await api("GET", "/api/v1/suppressions")).json;
  assert.equal(rules[0].vendor, "Raspberry Pi Foundation");
  await context.close();
});

test("the dashboard charts live alerts and the register, and lists each agent's sweeps", async () => {
  const { context, page, dialogs } = await signedIn("vic");
  await page.click("nav >> text=Dashboard");
  await page.waitForSelector("figure.chart svg");
  assert.ok(await page.locator("figure.chart").count() >= 3);
  assert.match(await page.textContent("table#agents"), /agent-lab-1/);
  const status = (await api("GET", "/api/v1/status")).json;
  assert.match(await page.textContent("main"), new RegExp(`${status.live_alerts} live alerts`));
  const kindTotal = await page.evaluate(() => [...document.querySelectorAll("figure.chart")][0]
    .querySelectorAll("text.chart-value").values().reduce((n, t) => n + Number(t.textContent), 0));
  assert.equal(kindTotal, status.live_alerts, "the chart counts what the headline says");
  // Unknown devices per segment: 30 daily bars, today's holding the devices seen in this test's sweeps.
  const lab = page.locator("table#unknown-trend tr", { hasText: "lab" });
  assert.equal(await lab.locator("svg rect").count(), 30);
  assert.ok(Number(await lab.locator("td").nth(2).textContent()) >= 3, "the lab's unknown devices");
  assert.ok(await page.locator("table#coverage").count() === 1, "coverage per segment");
  if (shots) await page.screenshot({ path: `${shots}/console-dashboard.png`, fullPage: true });
  assert.deepEqual(dialogs, []);
  await context.close();
});

test("the lifecycle page shows each retirement's checklist with its evidence", async () => {
  const { context, page, dialogs } = await signedIn("vic");
  await page.click("nav >> text=Lifecycle");
  await page.waitForSelector("table#retirements");
  const row = page.locator("table#retirements tr", { hasText: "SRV-OLD-07" });
  assert.equal(await row.count(), 1);
  const failed = await row.locator("li.step-failed").textContent();
  assert.match(failed, /no-answer/);
  assert.match(failed, /198\.18\.0\.21/, "the address still answering is the evidence");
  assert.match(await row.textContent(), /not yet/, "not verified");
  assert.ok(await page.locator("table#deployments").count() === 1);
  if (shots) await page.screenshot({ path: `${shots}/console-lifecycle.png`, fullPage: true });
  await row.locator("a", { hasText: "SRV-OLD-07" }).click();
  await page.waitForSelector("#retirement");
  assert.match(await page.textContent("#retirement"), /Retirement not verified yet/);
  assert.deepEqual(dialogs, []);
  await context.close();
});

test("an admin adds an agent (its token shown once), revokes it, and reads both in the audit log", async () => {
  const admin = await api("POST", "/api/v1/users", { name: "ada", role: "admin", password: PASSWORD });
  assert.equal(admin.status, 201);
  const { context, page, ctl } = await signedIn("ada");
  await page.click("nav >> text=Agents");
  await page.fill("form[action='/agents'] input[name=name]", "agent-branch-2");
  await page.fill("form[action='/agents'] input[name=segments]", "198.18.5.0/24");
  await page.click("form[action='/agents'] button[type=submit]");
  await page.waitForSelector("#new-token");
  const token = (await page.textContent("#new-token code")).trim();
  assert.match(token, /^census_/);
  ctl.confirmNext = true;
  await page.click("tr:has-text('agent-branch-2') >> text=Revoke");
  await page.waitForSelector("tr:has-text('agent-branch-2') >> text=revoked");
  await page.click("nav >> text=Audit log");
  await page.fill("input[name=subject]", "agent:agent-branch-2");
  await page.click("form.filters button[type=submit]");
  await page.waitForURL(/subject=agent/);
  const audit = await page.textContent("table#audit");
  assert.match(audit, /agent\.revoke/);
  assert.match(audit, /agent\.add/);
  assert.ok(!audit.includes(token), "the token is never in the audit log");
  await context.close();
});

test("a viewer is refused the admin pages", async () => {
  const { context, page } = await signedIn("vic");
  assert.equal(await page.locator("nav >> text=Audit log").count(), 0);
  const r = await page.goto(base + "/audit");
  assert.equal(r.status(), 403);
  await context.close();
});

test("an admin imports a CSV: the dry-run plan first, nothing stored until confirmed; a bad row is named", async () => {
  const { context, page } = await signedIn("ada");
  await page.goto(base + "/import");
  const bad = "tag,name,type,lifecycle\nBAD-1,thing,toaster,deployed\n";
  await page.setInputFiles("input[name=file]", { name: "bad.csv", mimeType: "text/csv", buffer: Buffer.from(bad) });
  await page.click("button:has-text('Show what would change')");
  await page.waitForSelector("#problems");
  assert.match(await page.textContent("#problems"), /row 1, column type/);
  assert.equal((await api("GET", "/api/v1/assets/BAD-1")).status, 404, "nothing stored");

  const csv = "tag,name,type,lifecycle,owner\nSRV-DB-01,Billing database,server,deployed,finance-dba\nLAP-900,Loaner laptop,endpoint,procurement,it-desk\n";
  await page.setInputFiles("input[name=file]", { name: "register.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.click("button:has-text('Show what would change')");
  await page.waitForSelector("#plan");
  const plan = await page.textContent("#plan");
  assert.match(plan, /1 to add, 1 to change/);
  assert.match(await page.textContent("table#changes"), /owner[\s\S]*dba-team[\s\S]*finance-dba/);
  assert.equal((await api("GET", "/api/v1/assets/LAP-900")).status, 404, "a dry run stores nothing");
  await page.click("button:has-text('Confirm the import')");
  await page.waitForSelector("#applied");
  assert.match(await page.textContent("#applied"), /1 added, 1 changed/);
  assert.equal((await api("GET", "/api/v1/assets/LAP-900")).json.owner, "it-desk");
  assert.equal((await api("GET", "/api/v1/assets/SRV-DB-01")).json.owner, "finance-dba");
  await context.close();
});

test("two new devices adopted together from the devices page; a saved search comes back as a link", async () => {
  const agent = await api("POST", "/api/v1/agents", { name: "agent-lab-2", segments: ["198.18.1.0/24"] });
  assert.equal(agent.status, 201);
  const fresh = [
    { ip: "198.18.1.40", mac: "00:1b:21:3a:01:40", vendor: "Intel Corporate", name: "kiosk-1.local" },
    { ip: "198.18.1.41", mac: "00:1b:21:3a:01:41", vendor: "Intel Corporate", name: "kiosk-2.local" },
  ];
  for (const m of [20, 4]) {
    const b = sweep("agent-lab-2", fresh, m);
    b.segment.targets = ["198.18.1.0/24"];
    const r = await api("POST", "/api/v1/batches", b, agent.json.token);
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }
  assert.equal((await api("POST", "/api/v1/reconcile")).status, 200);
  const { context, page } = await signedIn("ana");
  await page.goto(base + "/devices");
  await page.waitForSelector("table#device-list");
  await page.fill("form.filters input[name=q]", "kiosk");
  await page.click("form.filters button[type=submit]");
  await page.waitForURL(/q=kiosk/);
  await page.click("#saved summary"); // closed while nothing is saved
  await page.fill("#saved input[name=name]", "Kiosks");
  await page.click("#saved button:has-text('Save')");
  await page.waitForSelector("#saved a:has-text('Kiosks')");
  const boxes = page.locator("table#device-list input[name=id]");
  assert.equal(await boxes.count(), 2);
  await page.check("table#device-list input[data-select-all]");
  await page.click("button:has-text('Adopt selected')");
  await page.waitForSelector("table#adopt-list");
  const tags = await page.locator("input[name^=tag-]").evaluateAll((es) => es.map((e) => e.value).sort());
  assert.deepEqual(tags, ["NEW-001B213A0140", "NEW-001B213A0141"], "a tag from each MAC");
  await page.fill("input[name=owner]", "facilities");
  await page.selectOption("select[name=type]", "iot");
  await page.click("button:has-text('Add to the register and resolve')");
  await page.waitForSelector("div.flash");
  assert.match(await page.textContent("div.flash"), /Adopted 2 device/);
  for (const tag of ["NEW-001B213A0140", "NEW-001B213A0141"]) {
    const a = (await api("GET", `/api/v1/assets/${tag}`)).json;
    assert.equal(a.owner, "facilities");
    assert.equal(a.type, "iot");
  }
  const left = (await api("GET", "/api/v1/alerts?kind=unknown-asset")).json;
  assert.ok(!left.some((a) => a.ip && a.ip.startsWith("198.18.1.")), "both alerts resolved");
  await context.close();
});
