// 4) ferryd restarts mid-conversation: both clients show offline, then
// reconnect by themselves; a message typed while offline is queued and
// sent on reconnect; nothing is lost or duplicated.
import { bodies, connection, createChat, expect, messages, openChat, send, shot, test } from "./fixtures";

test.setTimeout(120_000);

test("both clients ride out a ferryd restart; the offline message goes out once", async ({ ferryd, newUser }) => {
  const alice = await newUser("alice");
  const bob = await newUser("bob");
  await createChat(alice.page, ["bob"]);
  await send(alice.page, "one");
  await openChat(bob.page, "alice");
  await send(bob.page, "two");
  for (const u of [alice, bob]) await expect(bodies(u.page)).toHaveText(["one", "two"]);
  await expect(messages(alice.page).first()).toHaveAttribute("data-state", /^(delivered|read)$/);
  await expect(alice.page.getByTestId("presence")).toHaveText("online");

  // ferryd goes away (SIGTERM: a clean shutdown, 1001 to every client).
  const code = await ferryd.stop();
  expect(code, "ferryd exits cleanly").toBe(0);
  for (const u of [alice, bob]) {
    await expect(connection(u.page)).toHaveAttribute("data-state", /^(offline|connecting)$/);
    await expect(u.page.getByRole("status").filter({ hasText: "Offline — reconnecting…" })).toBeVisible();
  }
  // bob's "online" is a stale answer now: the header does not claim it.
  await expect(alice.page.getByTestId("presence")).not.toHaveText("online");
  await shot(alice.page, "4-restart-offline");

  // alice writes while offline: queued, not lost.
  await send(alice.page, "three (typed offline)");
  const queued = messages(alice.page).filter({ has: alice.page.locator(".body", { hasText: "three (typed offline)" }) });
  await expect(queued).toHaveCount(1);
  await expect(queued).toHaveAttribute("data-state", "sending");

  // ferryd is back on the same port with the same data; both reconnect by
  // themselves (backoff with jitter: allow for a few rounds).
  await ferryd.start();
  for (const u of [alice, bob]) {
    await expect(connection(u.page)).toHaveAttribute("data-state", "online", { timeout: 45_000 });
    await expect(u.page.getByRole("status").filter({ hasText: "Offline — reconnecting…" })).toHaveCount(0);
  }
  await expect(queued).toHaveAttribute("data-state", /^(sent|delivered|read)$/);
  await send(bob.page, "four");

  const all = ["one", "two", "three (typed offline)", "four"];
  for (const u of [alice, bob]) {
    await expect(bodies(u.page)).toHaveText(all);
    const ids = await messages(u.page).evaluateAll((els) => els.map((e) => e.getAttribute("data-message-id")));
    expect(new Set(ids).size, `${u.name}: no message twice`).toBe(all.length);
  }
  await expect(queued).toHaveAttribute("data-state", /^(delivered|read)$/);
  // settled: still exactly these four on both sides
  for (const u of [alice, bob]) await expect(bodies(u.page)).toHaveText(all);

  await shot(alice.page, "4-restart-reconnected-alice");
  await shot(bob.page, "4-restart-reconnected-bob");
});
