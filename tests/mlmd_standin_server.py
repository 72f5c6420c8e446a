"""A loopback ML Metadata gRPC service over a local SQLite store, for tests.

It stands in for Kubeflow's metadata service (ml-metadata's store server ships as a
container image, which cannot run here). Every MetadataStoreService RPC is answered by
the ml-metadata library itself on the given store, so the client under test speaks the
real service's protocol and gets its messages and status codes back.
"""

from __future__ import annotations

from concurrent import futures

import grpc
from ml_metadata import errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2

SERVICE = metadata_store_service_pb2.DESCRIPTOR.services_by_name["MetadataStoreService"]
_STATUS_BY_CODE = {status.value[0]: status for status in grpc.StatusCode}


def serve(connection_config: metadata_store_pb2.ConnectionConfig) -> tuple[grpc.Server, int]:
    """Starts the service on a free loopback port; returns (server, port)."""
    store = metadata_store.MetadataStore(connection_config)
    handlers = {method.name: _handler(store, method) for method in SERVICE.methods}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def _handler(store: metadata_store.MetadataStore, method):
    request_type = getattr(metadata_store_service_pb2, method.input_type.name)
    response_type = getattr(metadata_store_service_pb2, method.output_type.name)

    def handle(request, context):
        response = response_type()
        try:
            store._call(method.name, request, response)  # the library's own dispatch
        except errors.StatusError as e:
            context.abort(_STATUS_BY_CODE.get(e.error_code, grpc.StatusCode.UNKNOWN), str(e))
        return response

    return grpc.unary_unary_rpc_method_handler(
        handle,
        request_deserializer=request_type.FromString,
        response_serializer=response_type.SerializeToString,
    )
