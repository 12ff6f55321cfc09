// 5) Reloading the page keeps the history: it comes from IndexedDB (the
// server deletes an entry once the client acked it), also when the
// WebSocket cannot reach the server at all.
import { bodies, chatItem, connection, createChat, expect, messages, openChat, send, shot, test, type User } from "./fixtures";

const own = (u: User) => messages(u.page).and(u.page.locator(`[data-from="${u.name}"]`));

test("history survives a reload, from IndexedDB", async ({ newUser }) => {
  const alice = await newUser("alice");
  const bob = await newUser("bob");
  await createChat(alice.page, ["bob"]);
  await send(alice.page, "first");
  await send(alice.page, "second");
  await openChat(bob.page, "alice");
  await send(bob.page, "third");
  const all = ["first", "second", "third"];
  for (const u of [alice, bob]) await expect(bodies(u.page)).toHaveText(all);
  // delivered: bob's client acked alice's messages, so the server deleted
  // those entries; bob's own "third" is acked by alice's client likewise
  for (const u of [alice, bob]) {
    for (const m of await own(u).all()) await expect(m).toHaveAttribute("data-state", /^(delivered|read)$/);
  }

  for (const u of [alice, bob]) {
    await u.page.reload();
    await expect(u.page.getByTestId("me")).toHaveText(u.name);
    await expect(connection(u.page)).toHaveAttribute("data-state", "online");
    await expect(chatItem(u.page, u.name === "alice" ? "bob" : "alice")).toHaveCount(1);
    await openChat(u.page, u.name === "alice" ? "bob" : "alice");
    await expect(bodies(u.page)).toHaveText(all);
    // own messages keep their state (not sending again)
    for (const m of await own(u).all()) await expect(m).toHaveAttribute("data-state", /^(delivered|read)$/);
  }
  await shot(bob.page, "5-reload-bob");

  // Once more with the WebSocket going nowhere (the server unreachable for
  // it): what shows can only come from IndexedDB.
  await bob.page.routeWebSocket(/\/v1\/ws/, () => {});
  await bob.page.reload();
  await expect(bob.page.getByTestId("me")).toHaveText("bob");
  await openChat(bob.page, "alice");
  await expect(bodies(bob.page)).toHaveText(all);
  await expect(connection(bob.page)).not.toHaveAttribute("data-state", "online");
  await shot(bob.page, "5-reload-no-server-bob");
});
