"""Server instructions per call, counted by callgrind: Health, and warm
VerifyAccessKey for a user holding one permission directly and for one
holding three roles (nine permissions). Repeatable to a fraction of a
percent whatever else the machine does, unlike wall-clock rates.

Run against an accesskeyd started under callgrind on a fresh database
bootstrapped with `accesskeyd bootstrap --key-file admin.key`:

    valgrind --tool=callgrind --callgrind-out-file=cg.out.%p \
        target/release/accesskeyd --database-url URL --listen 127.0.0.1:50777 &
    python -m grpc_tools.protoc -I proto --python_out=STUBS --grpc_python_out=STUBS \
        proto/accesskey/v1/accesskey.proto
    STUBS=STUBS ADMIN_KEY_FILE=admin.key python bench/callgrind/roles.py 2000

(grpcio and grpcio-tools: the venv `tests/e2e/python_client.rs` makes in
target/python-venv has them.) Each measurement zeroes the counters, makes
N sequential calls and dumps them: `grep '^summary:' cg.out.*.N` gives the
instructions, divided by N per call.
"""
import os, sys, subprocess, grpc, time
sys.path.insert(0, os.environ.get('STUBS', '.'))
from accesskey.v1 import accesskey_pb2 as pb, accesskey_pb2_grpc as rpc

admin_key = open(os.environ['ADMIN_KEY_FILE']).read().strip()
channel = grpc.insecure_channel(os.environ.get('TARGET', '127.0.0.1:50777'))
for _ in range(200):
    try:
        grpc.channel_ready_future(channel).result(timeout=1); break
    except Exception: time.sleep(0.5)
admin = rpc.UserAdminStub(channel)
auth = rpc.KeyAuthStub(channel)
health_check = channel.unary_unary('/grpc.health.v1.Health/Check', request_serializer=lambda x: x, response_deserializer=lambda x: x)
md = [('x-access-key', admin_key)]
roles = {'r-orders': ['orders.export','orders.list','orders.read'],
         'r-billing': ['billing.export','billing.read','billing.write'],
         'r-deploy': ['deploy.audit','deploy.read','deploy.run']}
for name, perms in roles.items():
    admin.CreateRole(pb.CreateRoleRequest(role=pb.Role(name=name, permissions=perms)), metadata=md)
plain = admin.CreateUser(pb.CreateUserRequest(username='plain', permissions=['orders.read']), metadata=md).user
roled = admin.CreateUser(pb.CreateUserRequest(username='roled', roles=list(roles)), metadata=md).user
print('roled effective', list(roled.effective_permissions))
keys = {}
for user in (plain, roled):
    keys[user.username] = admin.GenerateAccessKey(pb.GenerateAccessKeyRequest(user_id=user.id), metadata=md).access_key
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
def verify(key):
    r = auth.VerifyAccessKey(pb.VerifyAccessKeyRequest(access_key=key, required_permissions=['orders.read']), metadata=md)
    assert r.result == pb.VERIFY_RESULT_VALID, r
def hcheck(_):
    health_check(b'')
# warm everything
for _ in range(50):
    verify(keys['plain']); verify(keys['roled']); hcheck(None)
time.sleep(2)  # let the usage flush happen outside the measurement
def measure(label, call, arg):
    subprocess.run(['callgrind_control', '-z'], check=True, capture_output=True)
    for _ in range(N): call(arg)
    out = subprocess.run(['callgrind_control', '-d', label], check=True, capture_output=True, text=True)
    print('measured', label)
for round_ in range(2):
    measure(f'health{round_}', hcheck, None)
    measure(f'plain{round_}', verify, keys['plain'])
    measure(f'roled{round_}', verify, keys['roled'])
