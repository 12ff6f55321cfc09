// 3) Attachment round trip: alice attaches a ~300 KB PNG (the upload's
// progress bar is seen to move), bob sees the thumbnail, opens it and
// downloads it: the downloaded bytes are the original's.
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { deflateSync } from "node:zlib";
import { createChat, expect, messages, openChat, recordedProgress, shot, test } from "./fixtures";

// A valid PNG of random RGB pixels (random: it does not compress, so the
// file is about width*height*3 bytes).
function noisePng(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) rows.push(Buffer.concat([Buffer.from([0]), randomBytes(width * 3)]));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

test("an image goes up with a moving progress bar and comes down byte for byte", async ({ newUser }) => {
  const png = noisePng(320, 320);
  expect(png.length).toBeGreaterThan(300_000);
  const name = "noise.png";

  const alice = await newUser("alice");
  const bob = await newUser("bob");
  await createChat(alice.page, ["bob"]);
  await openChat(bob.page, "alice");

  // Loopback moves 300 KB in a moment: the sender's uploads are throttled to
  // ~150 KB/s (DevTools network emulation) so the progress bar can be seen.
  const cdp = await alice.context.newCDPSession(alice.page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: 150 * 1024,
  });

  await alice.page.getByTestId("file-input").setInputFiles({ name, mimeType: "image/png", buffer: png });
  const progress = alice.page.getByRole("progressbar", { name: `Uploading ${name}` });
  await expect(progress).toBeVisible();
  await expect(messages(alice.page).filter({ has: progress })).toHaveCount(1); // inside the pending message
  await shot(alice.page, "3-attachment-uploading");
  await expect(progress).toHaveCount(0, { timeout: 20_000 });
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  const values = await recordedProgress(alice.page);
  test.info().annotations.push({ type: "progress", description: values.join(", ") });
  expect(values.every((v) => v >= 0 && v <= 100), `progress values ${values}`).toBe(true);
  expect(
    values.some((v) => v > 0 && v < 100) || new Set(values).size >= 3,
    `the progress bar moved: ${values.join(", ")}`,
  ).toBe(true);
  await expect(messages(alice.page)).toHaveCount(1);
  await expect(messages(alice.page)).toHaveAttribute("data-state", /^(sent|delivered|read)$/);

  // bob: the thumbnail (a decoded image), Open, Download.
  const msg = messages(bob.page);
  await expect(msg).toHaveCount(1);
  await expect(msg).toHaveAttribute("data-from", "alice");
  const open = msg.getByRole("button", { name: `Open ${name}`, exact: true });
  const thumb = open.locator(`img[alt="${name}"]`);
  await expect(thumb).toBeVisible({ timeout: 15_000 });
  await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
  await shot(bob.page, "3-attachment-received");

  await open.click();
  const dialog = bob.page.getByRole("dialog", { name, exact: true });
  await expect(dialog).toBeVisible();
  await shot(bob.page, "3-attachment-open");
  const downloading = bob.page.waitForEvent("download");
  await dialog.getByRole("link", { name: `Download ${name}`, exact: true }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe(name);
  const got = await readFile(await download.path());
  expect(got.length).toBe(png.length);
  expect(createHash("sha256").update(got).digest("hex")).toBe(createHash("sha256").update(png).digest("hex"));
  expect(got.equals(png)).toBe(true);

  await expect(messages(alice.page)).toHaveAttribute("data-state", /^(delivered|read)$/);
});

test("a file that is not an image is offered as a download link with its size", async ({ newUser }) => {
  const data = Buffer.from(Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join(""));
  const name = "notes.txt";
  const alice = await newUser("alice");
  const bob = await newUser("bob");
  await createChat(alice.page, ["bob"]);
  await alice.page.getByTestId("file-input").setInputFiles({ name, mimeType: "text/plain", buffer: data });
  await expect(messages(alice.page)).toHaveCount(1);
  await expect(messages(alice.page)).toHaveAttribute("data-state", /^(sent|delivered|read)$/);

  await openChat(bob.page, "alice");
  const link = messages(bob.page).getByRole("link", { name: new RegExp(`^Download ${name.replace(".", "\\.")} \\(.+\\)$`) });
  await expect(link).toBeVisible();
  const downloading = bob.page.waitForEvent("download");
  await link.click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe(name);
  expect((await readFile(await download.path())).equals(data)).toBe(true);
  await shot(bob.page, "3-attachment-file");
});

test("a file dropped on the conversation is sent, and the drop hint stays up over its children", async ({ newUser }) => {
  const alice = await newUser("alice");
  const bob = await newUser("bob");
  await createChat(alice.page, ["bob"]);
  const conversation = alice.page.locator(".conversation");
  const dropped = await alice.page.evaluateHandle(() => {
    const d = new DataTransfer();
    d.items.add(new File(["dropped bytes\n"], "dropped.txt", { type: "text/plain" }));
    return d;
  });
  // Entering the conversation, then one of its children, then leaving the
  // first: the pointer is still over the conversation, the hint stays.
  await conversation.dispatchEvent("dragenter", { dataTransfer: dropped });
  await alice.page.getByRole("log", { name: "Messages" }).dispatchEvent("dragenter", { dataTransfer: dropped });
  await conversation.dispatchEvent("dragleave", { dataTransfer: dropped });
  await expect(conversation).toHaveClass(/dragging/);
  await conversation.dispatchEvent("drop", { dataTransfer: dropped });
  await expect(conversation).not.toHaveClass(/dragging/);
  await expect(messages(alice.page)).toHaveAttribute("data-state", /^(sent|delivered|read)$/);
  await openChat(bob.page, "alice");
  await expect(messages(bob.page).getByRole("link", { name: /^Download dropped\.txt \(/ })).toBeVisible();
});
