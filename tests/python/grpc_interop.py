"""Python's gRPC stack with OpenTelemetry's own instrumentation, against
tracewire-tonic (tests/tests/grpc.rs).

    grpc_interop.py client HOST:PORT NAME [TRACEPARENT]
        Calls helloworld.Greeter/SayHello through an instrumented channel
        (inside a span continuing TRACEPARENT, when given); prints the reply
        or the status code, then one JSON line per finished span.

    grpc_interop.py server
        Serves helloworld.Greeter on a free loopback port with the
        instrumented server; prints `listening on http://127.0.0.1:PORT`,
        then one JSON line per finished span, until SIGTERM.

The helloworld code is generated from examples/grpc/proto into a temporary
directory with grpcio-tools, so nothing generated is committed here.
"""

import json
import os
import signal
import sys
import tempfile
import threading

from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "examples", "grpc", "proto")


def generated_helloworld():
    out = tempfile.mkdtemp(prefix="tracewire-grpc-py-")
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            os.path.join(PROTO_DIR, "helloworld.proto"),
        ]
    )
    if code != 0:
        sys.exit(f"protoc failed: {code}")
    sys.path.insert(0, out)
    import helloworld_pb2  # noqa: E402
    import helloworld_pb2_grpc  # noqa: E402

    return helloworld_pb2, helloworld_pb2_grpc


class PrintingExporter:
    """Writes each finished span as one JSON line on stdout."""

    def __init__(self):
        self.lock = threading.Lock()

    def export(self, spans):
        from opentelemetry.sdk.trace.export import SpanExportResult

        with self.lock:
            for span in spans:
                ctx = span.get_span_context()
                parent = span.parent
                print(
                    json.dumps(
                        {
                            "name": span.name,
                            "kind": span.kind.name,
                            "trace_id": format(ctx.trace_id, "032x"),
                            "span_id": format(ctx.span_id, "016x"),
                            "parent_span_id": format(parent.span_id, "016x") if parent else None,
                            "parent_is_remote": bool(parent and parent.is_remote),
                            "status": span.status.status_code.name,
                            "attributes": {k: str(v) for k, v in span.attributes.items()},
                        }
                    ),
                    flush=True,
                )
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis=30000):
        return True


def setup_tracing(service):
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(PrintingExporter()))
    trace.set_tracer_provider(provider)
    return trace.get_tracer("grpc-interop")


def client(target, name, traceparent):
    import grpc
    from opentelemetry import propagate
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient

    pb2, pb2_grpc = generated_helloworld()
    tracer = setup_tracing("python-grpc-client")
    GrpcInstrumentorClient().instrument()
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
    with tracer.start_as_current_span("python caller", context=parent):
        with grpc.insecure_channel(target) as channel:
            stub = pb2_grpc.GreeterStub(channel)
            try:
                reply = stub.SayHello(pb2.HelloRequest(name=name), timeout=10)
                print(json.dumps({"reply": reply.message}), flush=True)
            except grpc.RpcError as e:
                print(json.dumps({"code": e.code().name}), flush=True)


def server():
    from concurrent import futures

    import grpc
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorServer

    pb2, pb2_grpc = generated_helloworld()
    setup_tracing("python-grpc-server")
    GrpcInstrumentorServer().instrument()

    class Greeter(pb2_grpc.GreeterServicer):
        def SayHello(self, request, context):
            if request.name.startswith("missing"):
                context.abort(grpc.StatusCode.NOT_FOUND, "no one by that name")
            return pb2.HelloReply(message=f"Hello from Python, {request.name}!")

    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb2_grpc.add_GreeterServicer_to_server(Greeter(), srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    srv.stop(grace=1).wait()


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "client":
        client(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    elif len(sys.argv) == 2 and sys.argv[1] == "server":
        server()
    else:
        sys.exit(__doc__)
