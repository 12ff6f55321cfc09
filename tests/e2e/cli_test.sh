#!/usr/bin/env bash
# End-to-end test of the `ferry` CLI against a real ferryd on a free port.
# Usage: cli_test.sh PATH/TO/ferryd PATH/TO/ferry
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 FERRYD FERRY" >&2
  exit 2
fi
FERRYD=$(realpath "$1")
FERRY=$(realpath "$2")
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-cli-test.XXXXXX")
FERRYD_PID=""
BG_PIDS=()
PASSED=0
FAILED=0

cleanup() {
  local status=$?
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -n "$FERRYD_PID" ]]; then
    kill "$FERRYD_PID" 2>/dev/null || true
    wait "$FERRYD_PID" 2>/dev/null || true
  fi
  if [[ $status -ne 0 || $FAILED -ne 0 ]]; then
    echo "--- ferryd log (kept in $TMP) ---"
    tail -n 40 "$TMP/ferryd.log" 2>/dev/null || true
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'echo "cli_test.sh: command failed at line $LINENO" >&2' ERR

pass() {
  PASSED=$((PASSED + 1))
  echo "ok - $1"
}
fail() {
  FAILED=$((FAILED + 1))
  echo "FAIL - $1"
  if [[ $# -gt 1 ]]; then printf '  %s\n' "$2"; fi
}
# check NAME CONDITION...: passes if the command succeeds.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name" "condition: $*"; fi
}
contains() { [[ "$1" == *"$2"* ]]; }

# ---- start ferryd on port 0 and wait (at most 10 s) for its port file ----
"$FERRYD" --listen 127.0.0.1:0 --data-dir "$TMP/data" --port-file "$TMP/port" \
  --password-cost min ${FERRY_TEST_IO_THREADS:+--io-threads "$FERRY_TEST_IO_THREADS"} >"$TMP/ferryd.log" 2>&1 &
FERRYD_PID=$!
for _ in $(seq 100); do
  [[ -s "$TMP/port" ]] && break
  kill -0 "$FERRYD_PID" 2>/dev/null || { echo "ferryd exited early" >&2; exit 1; }
  sleep 0.1
done
[[ -s "$TMP/port" ]] || { echo "ferryd wrote no port file within 10 s" >&2; exit 1; }
SERVER="http://127.0.0.1:$(cat "$TMP/port")"

# Ids are base64url and may start with "-": they go after `--`.
# One config dir per login; --server only for register/login (later commands
# use the server saved with the login).
alice() { "$FERRY" --config-dir "$TMP/alice" "$@"; }
bob() { "$FERRY" --config-dir "$TMP/bob" "$@"; }
bob2() { "$FERRY" --config-dir "$TMP/bob2" "$@"; }
# run VAR_PREFIX CMD...: captures stdout, stderr and the exit status.
run() {
  local prefix=$1
  shift
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  printf -v "${prefix}_out" '%s' "$(cat "$TMP/out")"
  printf -v "${prefix}_err" '%s' "$(cat "$TMP/err")"
  printf -v "${prefix}_rc" '%s' "$rc"
}

# ---- accounts ----
run r alice --server "$SERVER" register alice --password alice-secret
check "register alice (--password)" [ "$r_rc" = 0 ]
run r bob --server "$SERVER" register bob <<<"bob-secret"
check "register bob (password from stdin)" [ "$r_rc" = 0 ]
run r alice --server "$SERVER" register alice --password alice-secret
check "register twice fails with user_exists" \
  bash -c '[ "$0" = 1 ] && [[ "$1" == "ferry: user_exists: "* ]]' "$r_rc" "$r_err"

run r env FERRY_PASSWORD=alice-secret "$FERRY" --config-dir "$TMP/alice" --server "$SERVER" \
  login alice --device laptop
check "login alice (FERRY_PASSWORD)" [ "$r_rc" = 0 ]
run r bob --server "$SERVER" login bob --device phone --password bob-secret
check "login bob" [ "$r_rc" = 0 ]
check "login file is mode 600" [ "$(stat -c %a "$TMP/bob/bob.json")" = 600 ]
check "current names the user" [ "$(cat "$TMP/bob/current")" = bob ]
run r bob2 --server "$SERVER" login bob --device tablet --password wrong-password
check "wrong password: exit 1, unauthorized" \
  bash -c '[ "$0" = 1 ] && [[ "$1" == "ferry: unauthorized: "* ]]' "$r_rc" "$r_err"
run r alice send
check "usage error exits 2" [ "$r_rc" = 2 ]

# ---- chats ----
CHAT=$(alice create bob --name "test chat")
check "create prints a chatId" [ -n "$CHAT" ]
run r alice --json chats
check "chats lists the chat" contains "$r_out" "\"chatId\":\"$CHAT\""

# Bob's inbox starts with the chat's "created" event.
run r bob listen --count 1 --json --timeout 10
check "bob gets the created event" \
  bash -c '[ "$0" = 0 ] && [[ "$1" == *"\"event\":\"created\""* ]]' "$r_rc" "$r_out"

# ---- protocol 1.1: receipts, read marks, privacy, typing ----
# Needs the server's protocol 1.1; there is no skip: on an older server these
# checks fail. They come before the other message tests so that the counts
# below are exact: alice's inbox is still empty and bob's holds nothing.
# field JSON NAME: the value of a top-level string or integer field.
field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
# object JSON NAME: the text inside a {...} field (a position), "" if null.
object() { printf '%s' "$1" | sed -n "s/.*\"$2\":{\([^}]*\)}.*/\1/p"; }
run r alice --json send -- "$CHAT" "read me"
M1=$(field "$r_out" messageId)
M1_TS=$(field "$r_out" ts)
check "send --json gives messageId and ts" [ -n "$M1" -a -n "$M1_TS" ]
run r bob listen --count 1 --timeout 10
check "bob's listen prints the message" contains "$r_out" "alice (chat $CHAT): read me"
check "bob's listen marks it read without a complaint" \
  bash -c '[ "$0" = 0 ] && [ -z "$1" ]' "$r_rc" "$r_err"

# Alice's listen gets bob's two receipts (coalesced at most a second later:
# --count waits for them). Times as the message lines show them (local).
M1_TIME=$(date -d "@$((M1_TS / 1000))" +%H:%M:%S)
run r alice listen --count 2 --timeout 10
check "alice's listen shows bob's delivered receipt" \
  bash -c '[[ "$0" =~ \]\ bob\ got\ messages\ up\ to\ ([0-9-]{10}\ )?$1\ \(chat\ $2\) ]]' \
  "$r_out" "$M1_TIME" "$CHAT"
check "alice's listen shows bob's read receipt" \
  bash -c '[[ "$0" =~ \]\ bob\ read\ up\ to\ ([0-9-]{10}\ )?$1\ \(chat\ $2\) ]]' \
  "$r_out" "$M1_TIME" "$CHAT"
M1_ISO=$(date -u -d "@$((M1_TS / 1000))" +%Y-%m-%dT%H:%M:%SZ)
run r alice receipts -- "$CHAT"
check "receipts shows bob's delivered and read positions" \
  [ "$r_out" = "bob  delivered $M1_ISO  read $M1_ISO" ]
run r alice --json receipts -- "$CHAT"
check "receipts --json: bob's read is the message he printed" \
  contains "$(object "$r_out" read)" "\"messageId\":\"$M1\""

# --no-read: the message is delivered, its read mark stays.
run r alice --json send -- "$CHAT" "not read yet"
M2=$(field "$r_out" messageId)
run r bob listen --count 1 --timeout 10 --no-read
check "listen --no-read prints the message" contains "$r_out" "alice (chat $CHAT): not read yet"
run r alice --json listen --count 1 --timeout 10
check "alice gets bob's delivered receipt for it" \
  bash -c '[[ "$0" == *"\"kind\":\"delivered\""* && "$1" == *"\"messageId\":\"$2\""* ]]' \
  "$r_out" "$(object "$r_out" upTo)" "$M2"
run r alice --json receipts -- "$CHAT"
check "listen --no-read leaves bob's read mark at the first message" \
  contains "$(object "$r_out" read)" "\"messageId\":\"$M1\""

# Privacy: read receipts off and last seen hidden, then back on.
run r bob privacy
check "privacy with nothing to change: usage error" [ "$r_rc" = 2 ]
run r bob privacy --read-receipts maybe
check "privacy --read-receipts maybe: usage error" [ "$r_rc" = 2 ]
run r bob privacy --read-receipts off --last-seen nobody
check "privacy prints the settings after the change" \
  [ "$r_out" = $'read receipts: off\nlast seen: nobody' ]
run r alice last-seen bob
check "last-seen of a user who hides it" [ "$r_out" = "last seen hidden (or never online)" ]
run r alice receipts -- "$CHAT"
check "with read receipts off, receipts shows bob's read as -" \
  bash -c '[[ "$0" =~ ^bob\ \ delivered\ [0-9T:-]{19}Z\ \ read\ -$ ]]' "$r_out"
run r bob --json privacy --read-receipts on
check "privacy --json: read receipts on, last seen still nobody" \
  [ "$r_out" = '{"readReceipts":true,"lastSeen":"nobody"}' ]
run r bob privacy --last-seen everyone
check "privacy --last-seen everyone" [ "$r_out" = $'read receipts: on\nlast seen: everyone' ]

# Typing reaches only the clients connected at the time, and bob's listen
# cannot say when it is connected: alice repeats her `typing` (at most once a
# second, as the server may drop more) until bob's `listen --until-typing`
# exits, or one `typing` fails. bob_sees_typing OUT "LISTEN_FLAGS"
# "TYPING_FLAGS" sets typing_rc (the listen's exit status) and
# typing_cmd_rc/typing_cmd_out (alice's first `typing`).
bob_sees_typing() {
  local out=$1 listen_flags=$2 typing_flags=$3 pid
  # shellcheck disable=SC2086
  "$FERRY" --config-dir "$TMP/bob" $listen_flags listen --until-typing --timeout 15 \
    >"$out" 2>"$out.err" &
  pid=$!
  BG_PIDS+=("$pid")
  typing_cmd_rc=""
  for _ in $(seq 10); do
    # shellcheck disable=SC2086
    run t alice typing $typing_flags -- "$CHAT"
    if [[ -z "$typing_cmd_rc" ]]; then
      typing_cmd_rc=$t_rc
      typing_cmd_out=$t_out
    fi
    if [[ "$t_rc" != 0 ]]; then  # no use waiting: stop the listen now
      kill "$pid" 2>/dev/null || true
      wait "$pid" || true
      typing_rc=killed  # not listen's 0 after SIGTERM: it saw no typing
      return
    fi
    for _ in $(seq 11); do
      kill -0 "$pid" 2>/dev/null || break 2
      sleep 0.1
    done
  done
  typing_rc=0
  wait "$pid" || typing_rc=$?
}
bob_sees_typing "$TMP/typing1" --json ""
check "typing: the command prints what it told" \
  [ "$typing_cmd_rc:$typing_cmd_out" = "0:typing in chat $CHAT" ]
check "listen --json --until-typing exits 0 on the typing event" [ "$typing_rc" = 0 ]
check "listen --json prints the raw typing event" \
  bash -c '[[ "$0" == *"\"type\":\"typing\""* && "$0" == *"\"user\":\"alice\""* && "$0" == *"\"state\":\"composing\""* ]]' \
  "$(cat "$TMP/typing1")"
bob_sees_typing "$TMP/typing2" "" ""
check "listen shows alice typing" \
  bash -c '[ "$0" = 0 ] && [ "$1" = "alice is typing… (chat $2)" ]' \
  "$typing_rc" "$(cat "$TMP/typing2")" "$CHAT"
bob_sees_typing "$TMP/typing3" "" --paused
check "typing --paused" [ "$typing_cmd_rc:$typing_cmd_out" = "0:paused typing in chat $CHAT" ]
check "listen shows nothing for paused" \
  bash -c '[ "$0" = 0 ] && [ ! -s "$1" ]' "$typing_rc" "$TMP/typing3"

# ---- live delivery: bob listens, alice sends ----
# (background ferry itself, not a shell function, so $! is ferry's PID)
"$FERRY" --config-dir "$TMP/bob" listen --count 1 --json --timeout 10 \
  >"$TMP/listen1" 2>"$TMP/listen1.err" &
LISTEN_PID=$!
BG_PIDS+=("$LISTEN_PID")
run r alice send -- "$CHAT" hello bob
check "send prints messageId and ts" \
  bash -c '[[ "$0" =~ ^[A-Za-z0-9_-]+\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z$ ]]' "$r_out"
rc=0
wait "$LISTEN_PID" || rc=$?
check "listen --count 1 exits 0" [ "$rc" = 0 ]
check "bob receives the message" contains "$(cat "$TMP/listen1")" '"body":"hello bob"'

# ---- offline delivery and resume: exactly the two new messages ----
alice send -- "$CHAT" second message >/dev/null
alice send -- "$CHAT" third message >/dev/null
run r bob listen --count 2 --json --timeout 10
check "listen --count 2 exits 0" [ "$r_rc" = 0 ]
check "gets exactly 2 entries" [ "$(printf '%s\n' "$r_out" | wc -l)" = 2 ]
check "gets the second message" contains "$r_out" '"body":"second message"'
check "gets the third message" contains "$r_out" '"body":"third message"'
check "does not get the first again" bash -c '[[ "$0" != *"hello bob"* ]]' "$r_out"
run r bob listen --timeout 1
check "nothing left: listen --timeout exits 1" \
  bash -c '[ "$0" = 1 ] && [[ "$1" == "ferry: timeout: "* ]]' "$r_rc" "$r_err"

# Human output.
alice send -- "$CHAT" "human text" >/dev/null
run r bob listen --count 1 --timeout 10
check "human listen line" \
  bash -c '[[ "$0" =~ ^\[[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9:]{8}\]\ alice\ \(chat\ $1\):\ human\ text$ ]]' \
  "$r_out" "$CHAT"

# listen exits 0 on SIGTERM.
"$FERRY" --config-dir "$TMP/bob" listen >/dev/null 2>&1 &
LISTEN_PID=$!
BG_PIDS+=("$LISTEN_PID")
sleep 1
kill -TERM "$LISTEN_PID"
rc=0
wait "$LISTEN_PID" || rc=$?
check "listen exits 0 on SIGTERM" [ "$rc" = 0 ]

# ---- attachments: upload with send --file, download with listen --download ----
# Needs the server's attachTarget and blob store; there is no skip: if they
# are missing these checks fail.
head -c 3145728 /dev/urandom >"$TMP/random.bin"
run r alice send --file "$TMP/random.bin" -- "$CHAT" "a file for you"
check "send --file exits 0" [ "$r_rc" = 0 ]
if [[ "$r_rc" != 0 ]]; then printf '  stderr: %s\n' "$r_err"; fi
check "send --file prints messageId and ts first" \
  bash -c '[[ "$0" =~ ^[A-Za-z0-9_-]+\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z$ ]]' \
  "$(printf '%s\n' "$r_out" | sed -n 1p)"
check "send --file then prints one line for the attachment" \
  bash -c '[[ "$0" =~ ^attachment\ [A-Za-z0-9_-]+\ .*/random\.bin\ \(application/octet-stream,\ 3145728\ bytes ]]' \
  "$(printf '%s\n' "$r_out" | sed -n 2p)"
ATT_ID=$(printf '%s\n' "$r_out" | sed -n 's/^attachment \([^ ]*\) .*/\1/p')
run r bob listen --count 1 --timeout 20 --download "$TMP/downloads"
check "listen --download exits 0" [ "$r_rc" = 0 ]
if [[ "$r_rc" != 0 ]]; then printf '  stderr: %s\n' "$r_err"; fi
check "listen shows the message and its attachment" \
  bash -c '[[ "$0" == *"alice (chat $1): a file for you"* && "$0" == *"application/octet-stream, 3145728 bytes"* ]]' \
  "$r_out" "$CHAT"
check "listen --download says sha256 ok" \
  contains "$r_out" "saved $TMP/downloads/$ATT_ID.bin (3145728 bytes, sha256 ok)"
check "the saved file is byte-identical" cmp -s "$TMP/random.bin" "$TMP/downloads/$ATT_ID.bin"
check "no partial file left" \
  bash -c '[ -z "$(find "$0" -name ".partial-*")" ]' "$TMP/downloads"

# An attachment with --type, two files, and no text.
printf '{"a":1}\n' >"$TMP/small.json"
printf 'plain' >"$TMP/small.txt"
run r alice --json send --file "$TMP/small.json" --file "$TMP/small.txt" --type text/x-test -- "$CHAT"
check "send two files, no text, --type, --json" \
  bash -c '[ "$0" = 0 ] && [[ "$1" == *"\"contentType\":\"text/x-test\""*"\"contentType\":\"text/x-test\""* ]]' \
  "$r_rc" "$r_out"
run r bob --json listen --count 1 --timeout 20 --download "$TMP/downloads"
check "listen --json --download reports two saved files" \
  [ "$(printf '%s\n' "$r_out" | grep -c '"type":"saved"')" = 2 ]
run r alice send --file "$TMP/does-not-exist" -- "$CHAT"
check "send --file of a missing file fails with exit 1" \
  bash -c '[ "$0" = 1 ] && [[ "$1" == "ferry: bad_request: "* ]]' "$r_rc" "$r_err"

# ---- last-seen ----
run r alice last-seen bob
check "last-seen of an offline user" \
  bash -c '[[ "$0" =~ ^last\ seen\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]]' "$r_out"
run r alice last-seen alice
check "last-seen of yourself is online" [ "$r_out" = online ]
run r alice last-seen nobody
check "last-seen of a stranger: forbidden" \
  bash -c '[ "$0" = 1 ] && [[ "$1" == "ferry: forbidden: "* ]]' "$r_rc" "$r_err"

# ---- clients and revoke ----
run r bob2 --server "$SERVER" login bob --device tablet --password bob-secret
check "bob logs in a second device" [ "$r_rc" = 0 ]
run r bob --json clients
check "clients lists both devices" [ "$(printf '%s\n' "$r_out" | wc -l)" = 2 ]
TABLET=$(printf '%s\n' "$r_out" | grep '"device":"tablet"' | sed 's/.*"clientId":"\([^"]*\)".*/\1/')
check "found the tablet's clientId" [ -n "$TABLET" ]
run r bob revoke -unknown-id
check "an id starting with - is an argument (not_found, not a usage error)" \
  bash -c '[ "$0" = 1 ] && [[ "$1" == "ferry: not_found: "* ]]' "$r_rc" "$r_err"
run r bob revoke -- "$TABLET"
check "revoke succeeds" [ "$r_rc" = 0 ]
run r bob2 chats
check "revoked token: WebSocket command fails with exit 1" \
  bash -c '[ "$0" = 1 ] && [[ "$1" == "ferry: unauthorized: "* ]]' "$r_rc" "$r_err"
run r bob2 clients
check "revoked token: HTTP command fails with exit 1" [ "$r_rc" = 1 ]
run r bob --json clients
check "one client left" [ "$(printf '%s\n' "$r_out" | wc -l)" = 1 ]

# ---- TLS: a second ferryd on https/wss, trusted through SSL_CERT_FILE ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=cli-test \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
"$FERRYD" --listen 127.0.0.1:0 --data-dir "$TMP/tls-data" --port-file "$TMP/tls-port" \
  --password-cost min --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" >"$TMP/ferryd-tls.log" 2>&1 &
TLS_PID=$!
BG_PIDS+=("$TLS_PID")
for _ in $(seq 100); do
  [[ -s "$TMP/tls-port" ]] && break
  sleep 0.1
done
TLS_SERVER="https://127.0.0.1:$(cat "$TMP/tls-port")"
carol() { SSL_CERT_FILE="$TMP/cert.pem" "$FERRY" --config-dir "$TMP/carol" "$@"; }
run r carol --server "$TLS_SERVER" register carol --password carol-secret
check "register over https" [ "$r_rc" = 0 ]
run r carol --server "$TLS_SERVER" login carol --device laptop --password carol-secret
check "login over https" [ "$r_rc" = 0 ]
check "the login keeps https" contains "$(cat "$TMP/carol/carol.json")" "\"server\":\"$TLS_SERVER\""
run r carol chats
check "a WebSocket command over wss (the saved server)" [ "$r_rc" = 0 ]
run r "$FERRY" --config-dir "$TMP/dave" --server "$TLS_SERVER" register dave --password dave-secret
check "an untrusted certificate fails with exit 1" \
  bash -c '[ "$0" = 1 ] && [[ "$1" == *"TLS handshake"* ]]' "$r_rc" "$r_err"
run r "$FERRY" --config-dir "$TMP/dave" --server "http://127.0.0.1:$(cat "$TMP/tls-port")" register dave --password dave-secret
check "plain http to the TLS port: 400 naming TLS" \
  bash -c '[ "$0" = 1 ] && [[ "$1" == *"TLS"* ]]' "$r_rc" "$r_err"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
