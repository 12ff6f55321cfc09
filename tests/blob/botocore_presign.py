#!/usr/bin/python3
"""Prints the S3 pre-signed URL botocore makes for the given inputs.

blob_test runs this (with /usr/bin/python3 and Debian's python3-botocore) as
an independent SigV4 implementation to cross-check ferry::sigv4. It uses
botocore's own S3 query signer, S3SigV4QueryAuth, on an AWSRequest, the way
botocore's generate_presigned_url ends up doing, with two inputs fixed:

* the clock: Debian's botocore 1.29 has S3SigV4QueryAuth.add_auth read
  datetime.datetime.utcnow() through botocore.auth's `datetime` module, so
  that reference is swapped for a copy whose datetime.utcnow()/now() return
  --epoch (newer botocore reads botocore.auth.get_current_datetime() instead;
  that is replaced too when present). The script then checks that the URL's
  X-Amz-Date is the fixed time, so a botocore that reads the clock some
  other way fails loudly instead of signing with the real time;
* the path: botocore's REST serializer percent-encodes an S3 key with
  botocore.utils.percent_encode(key, safe='/~') before signing, and the
  signer itself does not encode S3 paths, so the same call is made here.

Prints one line, the URL. Exit status 3 if botocore cannot be imported,
4 if its clock could not be fixed, 2 on bad arguments.
"""
import argparse
import datetime as _datetime
import sys
import types


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--service", default="s3")
    ap.add_argument("--method", required=True)
    ap.add_argument("--scheme", default="http")
    ap.add_argument("--host", required=True)
    ap.add_argument("--path", required=True, help="decoded path, e.g. /bucket/key")
    ap.add_argument("--epoch", type=int, required=True, help="signing time, s since epoch")
    ap.add_argument("--expires", type=int, required=True)
    ap.add_argument("--param", action="append", default=[], help="KEY=VALUE (decoded)")
    args = ap.parse_args()

    try:
        import botocore
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        import botocore.utils
    except ImportError as e:
        print(f"botocore_presign.py: cannot import botocore ({e}); "
              "install python3-botocore (scripts/deps.sh)", file=sys.stderr)
        return 3

    fixed = _datetime.datetime.fromtimestamp(args.epoch, tz=_datetime.timezone.utc)
    fixed = fixed.replace(tzinfo=None)  # utcnow() returns a naive UTC time

    class FixedDatetime(_datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

        @classmethod
        def now(cls, tz=None):
            return fixed if tz is None else fixed.replace(tzinfo=_datetime.timezone.utc)

    shim = types.ModuleType("datetime")
    shim.__dict__.update(_datetime.__dict__)
    shim.datetime = FixedDatetime
    botocore.auth.datetime = shim
    if hasattr(botocore.auth, "get_current_datetime"):
        botocore.auth.get_current_datetime = lambda remove_tzinfo=True: (
            fixed if remove_tzinfo else fixed.replace(tzinfo=_datetime.timezone.utc))

    params = {}
    for p in args.param:
        key, sep, value = p.partition("=")
        if not sep:
            print(f"botocore_presign.py: --param needs KEY=VALUE: {p!r}", file=sys.stderr)
            return 2
        params[key] = value

    path = botocore.utils.percent_encode(args.path, safe="/~")
    request = botocore.awsrequest.AWSRequest(
        method=args.method, url=f"{args.scheme}://{args.host}{path}", params=params)
    creds = botocore.credentials.Credentials(args.access_key, args.secret_key)
    signer = botocore.auth.S3SigV4QueryAuth(
        creds, args.service, args.region, expires=args.expires)
    signer.add_auth(request)
    want = "X-Amz-Date=" + fixed.strftime("%Y%m%dT%H%M%SZ") + "&"
    if want not in request.url:
        print(f"botocore_presign.py: botocore {botocore.__version__} did not sign at "
              f"the fixed time ({request.url})", file=sys.stderr)
        return 4
    print(request.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
