// 2) bob goes offline (his page closed; his browser context — and so his
// IndexedDB and session — kept), alice sends 20 messages, bob comes back
// (a new page in the same context): all 20 arrive, in order, once.
import { bodies, connection, createChat, expect, messages, openChat, send, shot, test } from "./fixtures";

test("messages sent while the recipient is offline all arrive, in order, once", async ({ newUser }) => {
  const alice = await newUser("alice");
  const bob = await newUser("bob");

  await createChat(alice.page, ["bob"]);
  await send(alice.page, "before");
  await openChat(bob.page, "alice");
  await expect(bodies(bob.page)).toHaveText(["before"]);
  await expect(messages(alice.page)).toHaveAttribute("data-state", /^(delivered|read)$/);

  // bob goes offline.
  await bob.page.close();

  const sent = Array.from({ length: 20 }, (_, i) => `offline ${i + 1}`);
  for (const text of sent) await send(alice.page, text);
  await expect(bodies(alice.page)).toHaveText(["before", ...sent]);
  // all accepted by the server; none can be delivered while bob is away
  for (const m of (await messages(alice.page).all()).slice(1)) {
    await expect(m).toHaveAttribute("data-state", "sent");
  }

  // bob comes back: the same browser (context), a new page.
  const page = await bob.context.newPage();
  await page.goto("/");
  await expect(page.getByTestId("me")).toHaveText("bob");
  await expect(connection(page)).toHaveAttribute("data-state", "online");
  await openChat(page, "alice");
  await expect(bodies(page)).toHaveText(["before", ...sent]);
  const ids = await messages(page).evaluateAll((els) => els.map((e) => e.getAttribute("data-message-id")));
  expect(new Set(ids).size, "no message twice").toBe(21);

  // alice sees them delivered (or read) now.
  for (const m of await messages(alice.page).all()) {
    await expect(m).toHaveAttribute("data-state", /^(delivered|read)$/);
  }
  // and still exactly once each after everything settled
  await expect(bodies(page)).toHaveText(["before", ...sent]);

  await shot(page, "2-offline-catchup-bob");
  await shot(alice.page, "2-offline-catchup-alice");
});

// The same, but bob comes back in a fresh browser (no IndexedDB) logging in
// with the same device name, so the same client: the server still holds
// the 20 entries he never acked (not "before", which he did), and the app
// learns the chat from listChats.
test("the same device name in a fresh browser gets what the client never acked", async ({ newUser }) => {
  const alice = await newUser("alice");
  const bob = await newUser("bob", { device: "bob-laptop" });
  await createChat(alice.page, ["bob"]);
  await send(alice.page, "before");
  await openChat(bob.page, "alice");
  await expect(bodies(bob.page)).toHaveText(["before"]);
  await expect(messages(alice.page)).toHaveAttribute("data-state", /^(delivered|read)$/);
  await bob.context.close();

  const sent = Array.from({ length: 20 }, (_, i) => `missed ${i + 1}`);
  for (const text of sent) await send(alice.page, text);
  for (const m of (await messages(alice.page).all()).slice(1)) await expect(m).toHaveAttribute("data-state", "sent");

  const again = await newUser("bob", { device: "bob-laptop", login: true });
  await openChat(again.page, "alice");
  await expect(bodies(again.page)).toHaveText(sent);
  for (const m of await messages(alice.page).all()) {
    await expect(m).toHaveAttribute("data-state", /^(delivered|read)$/);
  }
  await expect(bodies(again.page)).toHaveText(sent);
  await shot(again.page, "2-offline-catchup-fresh-browser-bob");
});
