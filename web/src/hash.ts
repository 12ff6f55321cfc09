// SHA-256 of files: WebCrypto where the page is a secure context (https,
// localhost), @noble/hashes elsewhere (plain http on a LAN address).
import { sha256 } from "@noble/hashes/sha2.js";

export async function sha256Bytes(data: ArrayBuffer): Promise<Uint8Array> {
  if (globalThis.crypto?.subtle) return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return sha256(new Uint8Array(data));
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}
