"""A fleet's start-up as a Python API server sends it: every call at once, on one channel.

Driven by the Swift test suite (GRPCIOInteropTests) with the grpcio that scripts/test
installs: grpcio is the gRPC C-core client that the C++, Python, Ruby, PHP and Objective-C
clients share, and C-core may open streams before it has read the server's SETTINGS.

Three bursts, each started at once with asyncio.gather on one channel:
  1. RegisterRelay for every relay,
  2. RegisterAgent for every agent (agent i on relay i % relays),
  3. GetAgentPlacement for every agent, checking the relay it reports.
With --sync, the fleet API's way instead: one SyncRelay per relay placing all its agents
(every relay at once), then one GetPlacements call checking every agent's relay.
Prints one JSON line: per burst, how many calls ended with each status code, and the
placements that named the wrong relay. Exits 0 when every call succeeded, else 1.

Messages are encoded by hand (a few fields of aeroarc.registry.v1) so that no code
generation is needed; the field numbers are those of proto/aeroarc/registry/v1/registry.proto.
"""

import argparse
import asyncio
import collections
import json
import sys

import grpc

SERVICE = "/aeroarc.registry.v1.AeroRegistry/"
FLEET_SERVICE = "/aeroarc.registry.fleet.v1.FleetRegistry/"


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, wire_type, payload):
    return varint(number << 3 | wire_type) + payload


def string(number, text):
    data = text.encode()
    return field(number, 2, varint(len(data)) + data)


def message(number, body):
    return field(number, 2, varint(len(body)) + body)


def integer(number, value):
    return field(number, 0, varint(value))


def fields(data):
    """Top-level fields of a message: {number: [raw value or bytes]}."""
    result = collections.defaultdict(list)
    offset = 0
    while offset < len(data):
        key, offset = read_varint(data, offset)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, offset = read_varint(data, offset)
        elif wire_type == 2:
            length, offset = read_varint(data, offset)
            value, offset = data[offset:offset + length], offset + length
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
        result[number].append(value)
    return result


def read_varint(data, offset):
    value, shift = 0, 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def identity(data):
    return data


async def burst(channel, method, requests):
    """Starts every request at once; returns (status code name or 'OK', response) per call."""
    path = (FLEET_SERVICE if method in ("SyncRelay", "GetPlacements") else SERVICE) + method
    call = channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)

    async def one(request):
        try:
            return "OK", await call(request, timeout=60)
        except grpc.aio.AioRpcError as error:
            return error.code().name, error.details()

    return await asyncio.gather(*(one(request) for request in requests))


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of the registry")
    parser.add_argument("--relays", type=int, required=True)
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--prefix", default="burst", help="prefix of the relay and agent IDs")
    parser.add_argument("--sync", action="store_true", help="register through SyncRelay, one call per relay")
    arguments = parser.parse_args()

    relays = [f"{arguments.prefix}-relay-{i}" for i in range(arguments.relays)]
    agents = [(f"{arguments.prefix}-agent-{i}", relays[i % len(relays)]) for i in range(arguments.agents)]
    report = {}
    failed = False
    async with grpc.aio.insecure_channel(arguments.target) as channel:
        if arguments.sync:
            # SyncRelayRequest: relay_id = 1, address = 2, grpc_port = 3, place_agent_ids = 5.
            phases = [
                ("SyncRelay", [
                    string(1, relay) + string(2, "10.0.0.1") + integer(3, 50052)
                    + b"".join(string(5, agent) for agent, home in agents if home == relay)
                    for relay in relays
                ]),
            ]
        else:
            phases = [
                ("RegisterRelay", [
                    message(1, string(1, relay) + string(2, "10.0.0.1") + integer(3, 50052)) for relay in relays
                ]),
                ("RegisterAgent", [message(1, string(1, agent)) + string(2, relay) for agent, relay in agents]),
            ]
        if arguments.sync:
            # GetPlacementsRequest.agent_ids = 1.
            phases.append(("GetPlacements", [b"".join(string(1, agent) for agent, _ in agents)]))
        else:
            phases.append(("GetAgentPlacement", [string(1, agent) for agent, _ in agents]))
        for method, requests in phases:
            results = await burst(channel, method, requests)
            codes = collections.Counter(code for code, _ in results)
            entry = {"calls": len(results), "codes": dict(codes)}
            errors = [details for code, details in results if code != "OK"]
            if errors:
                entry["first_error"] = errors[0]
                failed = True
            if method == "SyncRelay":
                # SyncRelayResponse.lost_agents = 3: none may be lost.
                lost = sum(len(fields(response).get(3, [])) for code, response in results if code == "OK")
                entry["lost_agents"] = lost
                failed = failed or lost > 0
            if method == "GetAgentPlacement":
                wrong = []
                for (agent, relay), (code, response) in zip(agents, results):
                    if code != "OK":
                        continue
                    placement = fields(response).get(1, [b""])[0]
                    if fields(placement).get(2, [b""])[0].decode() != relay:
                        wrong.append(agent)
                entry["wrong_relay"] = len(wrong)
                failed = failed or bool(wrong)
            if method == "GetPlacements" and results and results[0][0] == "OK":
                # GetPlacementsResponse.placements = 1 (Placement.agent_id = 1, relay_id = 2).
                found = {}
                for placement in fields(results[0][1]).get(1, []):
                    placement_fields = fields(placement)
                    found[placement_fields[1][0].decode()] = placement_fields.get(2, [b""])[0].decode()
                wrong = [agent for agent, relay in agents if found.get(agent) != relay]
                entry["wrong_or_missing"] = len(wrong)
                failed = failed or bool(wrong)
            report[method] = entry
    print(json.dumps(report, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
