// Phone width (390×844): the chat list and a conversation, one at a time,
// with Back between them; screenshots of both.
import { bodies, chatButton, chatHeading, chatItem, createChat, expect, send, shot, test } from "./fixtures";

const phone = { width: 390, height: 844 };

test("phone width: chat list and conversation", async ({ newUser }) => {
  const alice = await newUser("alice", { viewport: phone });
  const bob = await newUser("bob", { viewport: phone });
  const carol = await newUser("carol", { viewport: phone });
  await createChat(alice.page, ["bob"]);
  await send(alice.page, "Hi Bob! This is what Ferry looks like on a phone.");
  await send(alice.page, "A longer message, to see how it wraps at phone width: the quick brown fox jumps over the lazy dog.");
  await createChat(carol.page, ["alice", "bob"], "Weekend");
  await send(carol.page, "Who's in for Saturday?");

  // bob's chat list: two chats, both unread
  await expect(chatItem(bob.page, "alice").getByTestId("unread")).toHaveText("2");
  await expect(chatItem(bob.page, "Weekend").getByTestId("unread")).toHaveText("1");
  await shot(bob.page, "phone-chat-list");

  await chatButton(bob.page, "alice").click();
  await expect(chatHeading(bob.page, "alice")).toBeVisible();
  await expect(bodies(bob.page)).toHaveCount(2);
  await send(bob.page, "Looks good!");
  await expect(bodies(alice.page)).toHaveCount(3);
  await shot(bob.page, "phone-conversation");

  // one pane at a time: Back returns to the list
  await bob.page.getByRole("button", { name: "Back", exact: true }).click();
  await expect(chatButton(bob.page, "Weekend")).toBeVisible();
  await expect(chatItem(bob.page, "alice").getByTestId("unread")).toHaveCount(0);
});
