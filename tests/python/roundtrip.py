"""A Python client generated from proto/ with grpcio-tools, against a real accesskeyd.

Usage: roundtrip.py GENERATED_DIR ENDPOINT   (admin key in ACCESSKEY_KEY)

Creates a user, issues it a key, verifies it, regenerates it, and checks that
the old key is rejected: the contract is usable from a language that is not
Rust, through stubs generated from the .proto files alone.
"""

import os
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from accesskey.v1 import accesskey_pb2 as pb  # noqa: E402
from accesskey.v1 import accesskey_pb2_grpc as rpc  # noqa: E402


def main() -> int:
    endpoint = sys.argv[2]
    admin = [("x-access-key", os.environ["ACCESSKEY_KEY"])]
    with grpc.insecure_channel(endpoint) as channel:
        users = rpc.UserAdminStub(channel)
        auth = rpc.KeyAuthStub(channel)

        user = users.CreateUser(
            pb.CreateUserRequest(username="py-svc", permissions=["orders.read"]),
            metadata=admin,
        ).user
        print(f"created user {user.username} id={user.id}")

        first = users.GenerateAccessKey(pb.GenerateAccessKeyRequest(user_id=user.id), metadata=admin)
        verdict = auth.VerifyAccessKey(
            pb.VerifyAccessKeyRequest(access_key=first.access_key, required_permissions=["orders.read"]),
            metadata=admin,
        )
        assert verdict.result == pb.VERIFY_RESULT_VALID, verdict
        assert verdict.principal.username == "py-svc", verdict
        print("first key: VALID")

        second = users.GenerateAccessKey(pb.GenerateAccessKeyRequest(user_id=user.id), metadata=admin)
        old = auth.VerifyAccessKey(pb.VerifyAccessKeyRequest(access_key=first.access_key), metadata=admin)
        assert old.result == pb.VERIFY_RESULT_NOT_FOUND, old
        new = auth.VerifyAccessKey(pb.VerifyAccessKeyRequest(access_key=second.access_key), metadata=admin)
        assert new.result == pb.VERIFY_RESULT_VALID, new
        print("after regeneration: old key NOT_FOUND, new key VALID")

        try:
            users.GetUser(pb.GetUserRequest(username="py-svc"))
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
            print("no key: UNAUTHENTICATED")
        else:
            raise AssertionError("a call without a key must be refused")
    print("python round trip: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
