// The HTTP half of the protocol: register, login, devices, blob transfers.
import { ProtocolError, type ClientInfo } from "./protocol";

async function call(method: string, path: string, body?: unknown, token?: string): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ProtocolError("offline", "The server cannot be reached. Check your connection and try again.");
  }
  if (res.ok) return res;
  let parsed: { error?: string; message?: string } | undefined;
  try {
    parsed = await res.json();
  } catch {
    /* not JSON */
  }
  const retry = Number(res.headers.get("Retry-After"));
  throw new ProtocolError(
    parsed?.error ?? `http_${res.status}`,
    parsed?.message ?? res.statusText,
    Number.isFinite(retry) && retry > 0 ? retry * 1000 : undefined,
    res.status,
    parsed,
  );
}

export async function register(user: string, password: string): Promise<void> {
  await call("POST", "/v1/register", { user, password });
}

export interface LoginResult {
  token: string;
  clientId: string;
}

export async function login(user: string, password: string, device: string): Promise<LoginResult> {
  return (await call("POST", "/v1/login", { user, password, device })).json();
}

export async function listClients(token: string): Promise<ClientInfo[]> {
  return ((await (await call("GET", "/v1/clients", undefined, token)).json()) as { clients: ClientInfo[] }).clients;
}

export async function deleteClient(token: string, clientId: string): Promise<void> {
  await call("DELETE", `/v1/clients/${encodeURIComponent(clientId)}`, undefined, token);
}

/** PUTs a file to a pre-signed URL, reporting progress (0–1). */
export function upload(
  url: string,
  file: Blob,
  contentType: string,
  sha256Base64: string,
  onProgress: (fraction: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("Content-Type", contentType);
    xhr.setRequestHeader("x-amz-checksum-sha256", sha256Base64);
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable && ev.total > 0) onProgress(ev.loaded / ev.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else {
        let code = `http_${xhr.status}`;
        let message = xhr.statusText;
        try {
          const body = JSON.parse(xhr.responseText);
          code = body.error ?? code;
          message = body.message ?? message;
        } catch {
          /* not JSON */
        }
        reject(new ProtocolError(code, `upload refused: ${message}`, undefined, xhr.status));
      }
    };
    xhr.onerror = () => reject(new ProtocolError("offline", "upload failed: connection lost"));
    xhr.send(file);
  });
}

/** GETs a blob from a pre-signed URL. */
export async function download(url: string): Promise<Blob> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch {
    throw new ProtocolError("offline", "download failed: connection lost");
  }
  if (!res.ok) throw new ProtocolError(`http_${res.status}`, `download failed (HTTP ${res.status})`, undefined, res.status);
  return res.blob();
}
