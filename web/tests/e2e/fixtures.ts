// The browser tests' fixtures: a real ferryd per test (on a free port, its
// own data dir, stopped by its PID with SIGTERM at the end), users
// registered through the UI in their own browser contexts, and helpers that
// use only the roles, names and data-* hooks of web/README.md.
import { test as base, expect, type Browser, type BrowserContext, type Locator, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export { expect };

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const webRoot = join(webDir, "dist");
export const screenshotDir = resolve(process.env.FERRY_SCREENSHOT_DIR ?? join(webDir, "../build/web-screenshots"));
export const PASSWORD = "password123";

// ---------------------------------------------------------------- ferryd

// Polls cond every few ms until it is true (a condition, never a fixed
// sleep), failing with what() after ms.
async function until(cond: () => boolean | Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(what());
    await delay(10);
  }
}

export class Ferryd {
  port = 0;
  private proc: ChildProcess | undefined;
  private exit: Promise<number> | undefined;
  private exited = false;
  readonly dataDir: string;
  readonly logFile: string;
  readonly portFile: string;

  constructor(
    readonly bin: string,
    readonly dir: string,
  ) {
    this.dataDir = join(dir, "data");
    this.logFile = join(dir, "ferryd.log");
    this.portFile = join(dir, "port");
  }

  // Where the browser goes: ferryd serves the web client (--web-root).
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  // Starts ferryd: on a free port the first time, on the same port (and
  // always the same data dir) after stop(). Returns once /healthz answers.
  async start(): Promise<void> {
    if (this.proc) throw new Error("ferryd is already running");
    const listen = `127.0.0.1:${this.port}`; // port 0 the first time: any free port
    const args = [
      "--listen", listen,
      "--data-dir", this.dataDir,
      "--port-file", this.portFile,
      "--password-cost", "min",
      "--limit", "register-per-address=off",
      "--limit", "login-per-address=off",
      "--limit", "send-per-client=off",
      "--web-root", webRoot,
    ];
    // The port of a ferryd just stopped may take a moment to be free again.
    const deadline = Date.now() + 30_000;
    for (;;) {
      rmSync(this.portFile, { force: true });
      const log = openSync(this.logFile, "a");
      const proc = spawn(this.bin, args, { stdio: ["ignore", log, log] });
      closeSync(log);
      this.exited = false;
      this.exit = new Promise<number>((done) =>
        proc.on("exit", (code, signal) => {
          this.exited = true;
          done(code ?? (signal ? 128 : -1));
        }),
      );
      this.proc = proc;
      await until(
        () => this.exited || (existsSync(this.portFile) && readFileSync(this.portFile, "utf8").trim() !== ""),
        30_000,
        () => `ferryd did not start listening on ${listen}:\n${this.logTail()}`,
      );
      if (!this.exited) break;
      this.proc = undefined;
      if (this.port === 0 || Date.now() > deadline) {
        throw new Error(`ferryd exited at start (${listen}):\n${this.logTail()}`);
      }
      await delay(100); // a restart whose port is not free yet: try again
    }
    const port = Number(readFileSync(this.portFile, "utf8").trim());
    if (this.port !== 0 && port !== this.port) throw new Error(`ferryd listens on ${port}, not ${this.port}`);
    this.port = port;
    await until(
      async () => {
        if (this.exited) throw new Error(`ferryd exited:\n${this.logTail()}`);
        try {
          const r = await fetch(`${this.url}/healthz`);
          return r.status === 200 && (await r.text()).trim() === "ok";
        } catch {
          return false;
        }
      },
      30_000,
      () => `ferryd's /healthz did not answer:\n${this.logTail()}`,
    );
  }

  // SIGTERM to ferryd's PID, then waits for it to exit (SIGKILL after 20 s).
  // Returns the exit code (0: a clean shutdown).
  async stop(): Promise<number> {
    const proc = this.proc;
    if (!proc) return 0;
    if (!this.exited) proc.kill("SIGTERM");
    const timeout = delay(20_000).then(() => "timeout" as const);
    let code = await Promise.race([this.exit!, timeout]);
    if (code === "timeout") {
      proc.kill("SIGKILL");
      await this.exit;
      code = 137;
    }
    this.proc = undefined;
    return code;
  }

  async restart(): Promise<void> {
    const code = await this.stop();
    if (code !== 0) throw new Error(`ferryd exited with ${code} at restart:\n${this.logTail()}`);
    await this.start();
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, "utf8") : "";
  }

  logTail(): string {
    const s = this.log();
    return s.length > 4000 ? s.slice(-4000) : s;
  }
}

// ---------------------------------------------------------------- users

export interface User {
  name: string;
  device: string;
  context: BrowserContext;
  page: Page;
}

export interface UserOptions {
  device?: string; // default NAME-browser
  login?: boolean; // log in to an existing account instead of registering
  viewport?: { width: number; height: number };
  context?: BrowserContext; // reuse this context (a new page in it)
}

// Records, in every page, each own message's data-state as it changes
// (window.__ferry.states[clientMsgId] = ["sending", "sent", …]) and every
// upload progress value seen (window.__ferry.progress). A MutationObserver
// sees every rendered change, however brief.
function recorder(): void {
  const rec = { states: {} as Record<string, string[]>, progress: [] as string[] };
  (window as unknown as { __ferry: typeof rec }).__ferry = rec;
  const scan = () => {
    for (const el of document.querySelectorAll('[data-testid="message"][data-client-msg-id]')) {
      const id = el.getAttribute("data-client-msg-id") ?? "";
      const state = el.getAttribute("data-state") ?? "";
      const seen = (rec.states[id] ??= []);
      if (seen[seen.length - 1] !== state) seen.push(state);
    }
    for (const el of document.querySelectorAll('[role="progressbar"], progress')) {
      const v = el.getAttribute("aria-valuenow") ?? (el instanceof HTMLProgressElement ? String(el.value) : null);
      if (v !== null && rec.progress[rec.progress.length - 1] !== v) rec.progress.push(v);
    }
  };
  const observe = () =>
    new MutationObserver(scan).observe(document.documentElement, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["data-state", "data-client-msg-id", "aria-valuenow", "value"],
    });
  if (document.documentElement) observe();
  else document.addEventListener("DOMContentLoaded", observe);
}

export async function recordedStates(page: Page): Promise<Record<string, string[]>> {
  return page.evaluate(() => (window as unknown as { __ferry: { states: Record<string, string[]> } }).__ferry.states);
}

export async function recordedProgress(page: Page): Promise<number[]> {
  const values = await page.evaluate(() => (window as unknown as { __ferry: { progress: string[] } }).__ferry.progress);
  return values.map(Number);
}

export async function newContext(browser: Browser, ferryd: Ferryd, viewport?: { width: number; height: number }) {
  const context = await browser.newContext({ baseURL: ferryd.url, viewport: viewport ?? { width: 1280, height: 800 } });
  await context.addInitScript(recorder);
  return context;
}

// Fills the login screen and presses Register (registers, then logs in) or
// Log in; returns once the main screen shows the user and is online.
export async function logIn(page: Page, name: string, device: string, how: "Register" | "Log in" = "Log in") {
  await page.getByLabel("User name", { exact: true }).fill(name);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByLabel("Device name", { exact: true }).fill(device);
  await page.getByRole("button", { name: how, exact: true }).click();
  await expect(page.getByTestId("me")).toHaveText(name);
  await expect(connection(page)).toHaveAttribute("data-state", "online", { timeout: 15_000 });
}

// ---------------------------------------------------------------- the test

type Fixtures = {
  ferryd: Ferryd;
  // A new browser context (or a new page in opts.context) with NAME
  // registered (or logged in) through the UI; closed at the end.
  newUser: (name: string, opts?: UserOptions) => Promise<User>;
};

export const test = base.extend<Fixtures>({
  // eslint-disable-next-line no-empty-pattern
  ferryd: async ({}, use, testInfo) => {
    const bin = process.env.FERRYD;
    if (!bin) throw new Error("set FERRYD to the ferryd binary (make test-web does)");
    if (!existsSync(join(webRoot, "index.html"))) throw new Error(`${webRoot} is not built: run make web`);
    const ferryd = new Ferryd(resolve(bin), mkdtempSync(join(tmpdir(), "ferry-web-e2e-")));
    let code: number;
    try {
      await ferryd.start();
      await use(ferryd);
    } finally {
      code = await ferryd.stop();
      if (testInfo.status !== testInfo.expectedStatus || code !== 0) {
        await testInfo.attach("ferryd.log", { body: ferryd.log(), contentType: "text/plain" });
        // The reporter shows only the attachment's start: the end is what tells.
        console.log(`--- ${testInfo.title}: the end of ferryd's log\n${ferryd.logTail()}`);
      }
      rmSync(ferryd.dir, { recursive: true, force: true });
    }
    expect(code, "ferryd exits cleanly on SIGTERM").toBe(0);
  },

  newUser: async ({ browser, ferryd }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async (name, opts = {}) => {
      let context = opts.context;
      if (!context) {
        context = await newContext(browser, ferryd, opts.viewport);
        contexts.push(context);
      }
      const page = await context.newPage();
      const device = opts.device ?? `${name}-browser`;
      await page.goto("/");
      await logIn(page, name, device, opts.login ? "Log in" : "Register");
      return { name, device, context, page };
    });
    for (const context of contexts) await context.close().catch(() => {});
  },
});

// ---------------------------------------------------------------- helpers

export function connection(page: Page): Locator {
  return page.getByTestId("connection");
}

export function chatList(page: Page): Locator {
  return page.getByRole("list", { name: "Chats", exact: true });
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// A chat item's button: its name starts with the title (then anything but
// more of a user name).
function titleButton(scope: Page | Locator, title: string): Locator {
  return scope.getByRole("button", { name: new RegExp(`^${escapeRe(title)}(?![\\w.-])`) });
}

export function chatButton(page: Page, title: string): Locator {
  return titleButton(chatList(page), title);
}

export function chatItem(page: Page, title: string): Locator {
  return chatList(page).getByTestId("chat-item").filter({ has: titleButton(page, title) });
}

export function chatHeading(page: Page, title: string): Locator {
  return page.getByRole("heading", { level: 2, name: title, exact: true });
}

// Opens the chat from the chat list (unless it is open already).
export async function openChat(page: Page, title: string): Promise<void> {
  const heading = chatHeading(page, title);
  await expect(heading.or(chatButton(page, title)).first()).toBeVisible();
  if (!(await heading.isVisible())) await chatButton(page, title).click();
  await expect(heading).toBeVisible();
}

// New chat → Members (and Group name) → Create; then the chat is open.
// Returns its title: the group name, or the other member of a 1:1.
export async function createChat(page: Page, members: string[], groupName?: string): Promise<string> {
  await page.getByRole("button", { name: "New chat", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "New chat" });
  await dialog.getByRole("textbox", { name: "Members", exact: true }).fill(members.join(", "));
  if (groupName) await dialog.getByRole("textbox", { name: "Group name", exact: true }).fill(groupName);
  await dialog.getByRole("button", { name: "Create", exact: true }).click();
  await expect(dialog).toBeHidden();
  const title = groupName ?? members[0];
  await openChat(page, title);
  return title;
}

export function messageLog(page: Page): Locator {
  return page.getByRole("log", { name: "Messages", exact: true });
}

export function messages(page: Page): Locator {
  return messageLog(page).getByTestId("message");
}

export function bodies(page: Page): Locator {
  return messages(page).locator(".body");
}

export function composer(page: Page): Locator {
  return page.getByRole("textbox", { name: "Message", exact: true });
}

// Types TEXT into the composer and presses Enter (which sends).
export async function send(page: Page, text: string): Promise<void> {
  const box = composer(page);
  await box.fill(text);
  await box.press("Enter");
  await expect(box).toHaveValue("");
}

// Saves a screenshot to $FERRY_SCREENSHOT_DIR/NAME.png.
export async function shot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await page.screenshot({ path, animations: "disabled" });
  return path;
}
