import SwiftProtobuf
import Synchronization
import EtcdProtos
import GRPCCore
import Logging
import RegistryCore

extension EtcdClient {
    /// What to do after a call failed.
    enum Disposition: Equatable {
        /// Another member (or this one, a little later) may answer.
        case failover
        /// The member rejected the auth token: get a new one and call again.
        case reauthenticate
        case leaseNotFound
        case revisionUnavailable
        /// Retrying would fail the same way.
        case fail
    }

    /// How etcd's gRPC errors are handled.
    static func disposition(of error: RPCError) -> Disposition {
        switch error.code {
        case .unavailable, .deadlineExceeded, .resourceExhausted, .aborted, .unknown, .cancelled:
            // Member down or restarting, no leader, leader changed, request timed out,
            // too many requests, connection reset.
            return .failover
        case .unauthenticated:
            return .reauthenticate
        case .notFound where error.message.contains("lease not found"):
            return .leaseNotFound
        case .outOfRange:
            // "required revision has been compacted" or "... is a future revision".
            return .revisionUnavailable
        default:
            return .fail
        }
    }

    /// Runs `call` against one member after another, as the type's documentation says.
    /// `gated`: an open outage is closed first (``endOutageIfOpen()``); only the outage
    /// step's own calls pass false. A call that no member answered in time is recorded
    /// as evidence of an outage.
    func perform<Result: Sendable>(
        _ what: String,
        by deadline: ContinuousClock.Instant,
        counted: Bool = true,
        gated: Bool = true,
        _ call: (Member, Metadata, CallOptions) async throws -> Result
    ) async throws -> Result {
        if gated {
            try await self.endOutageIfOpen()
        }
        let started = ContinuousClock.now
        var index = self.preferredMember()
        var failuresThisRound = 0
        var rounds = 0
        var reauthentications = 0
        var lastFailure = "no member answered"
        while true {
            try Task.checkCancellation()
            let remaining = deadline - .now
            guard remaining > .zero else {
                let error = RegistryError.unavailable(
                    "\(self.storeDescription) did not complete a \(what) within \(self.configuration.timeout.goDescription): \(lastFailure)"
                )
                self.outages.recordFailure(startedAt: started)
                self.health.report(.notServing(reason: error.message), since: started)
                throw error
            }
            let member = self.members[index]
            var options = CallOptions.defaults
            // Leave time for another member when one hangs.
            options.timeout = self.members.count > 1 ? min(remaining, max(self.configuration.timeout / 2, .milliseconds(200))) : remaining
            options.maxResponseMessageBytes = 64 << 20
            options.waitForReady = false
            do {
                if counted {
                    self.calls.add(1, ordering: .relaxed)
                }
                var metadata: Metadata = ["hasleader": "true"]
                if let token = try await self.token(for: index, by: deadline) {
                    metadata.addString(token, forKey: "token")
                }
                let result = try await call(member, metadata, options)
                self.setPreferredMember(index)
                self.health.report(.serving)
                return result
            } catch let error as RPCError {
                if Task.isCancelled { throw CancellationError() }
                switch Self.disposition(of: error) {
                case .failover:
                    lastFailure = "\(member.endpoint): \(error.code): \(error.message)"
                    self.logger.debug("etcd call failed; trying another member", metadata: ["call": "\(what)", "error": "\(lastFailure)"])
                case .reauthenticate where reauthentications < 2 && self.configuration.credentials != nil:
                    reauthentications += 1
                    self.forgetToken(for: index)
                    continue
                case .reauthenticate:
                    throw RegistryError.unavailable("\(self.storeDescription) refused the \(what) at \(member.endpoint): \(error.message); check --etcd-username and --etcd-password")
                case .leaseNotFound:
                    throw EtcdClientError.leaseNotFound
                case .revisionUnavailable:
                    throw EtcdClientError.revisionUnavailable
                case .fail:
                    throw RegistryError.unavailable("\(self.storeDescription) refused the \(what) at \(member.endpoint): \(error.code): \(error.message)", underlying: error)
                }
            }
            index = (index + 1) % self.members.count
            failuresThisRound += 1
            if failuresThisRound >= self.members.count {
                // Every member failed once: give the cluster a moment (an election, a restart).
                failuresThisRound = 0
                rounds += 1
                let pause = min(Duration.milliseconds(10) * (1 << min(rounds, 5)), deadline - .now)
                if pause > .zero {
                    try await Task.sleep(for: pause)
                }
            }
        }
    }

    private func preferredMember() -> Int {
        self.state.withLock { $0.preferred }
    }

    private func setPreferredMember(_ index: Int) {
        self.state.withLock { $0.preferred = index }
    }

    private func forgetToken(for index: Int) {
        _ = self.state.withLock { $0.tokens.removeValue(forKey: index) }
    }

    /// The auth token for a member, authenticating first when there is none yet; nil
    /// without credentials or when etcd's authentication is off.
    private func token(for index: Int, by deadline: ContinuousClock.Instant) async throws -> String? {
        guard let credentials = self.configuration.credentials else { return nil }
        let known: String?? = self.state.withLock { state in
            state.authDisabled ? .some(nil) : state.tokens[index].map { .some($0) }
        }
        if let known { return known }
        let member = self.members[index]
        let request = Etcdserverpb_AuthenticateRequest.with {
            $0.name = credentials.username
            $0.password = credentials.password
        }
        var options = CallOptions.defaults
        options.timeout = max(deadline - .now, .milliseconds(1))
        do {
            let response = try await Etcdserverpb_Auth.Client(wrapping: member.grpc).authenticate(request, options: options)
            self.state.withLock { $0.tokens[index] = response.token }
            return response.token
        } catch let error as RPCError where error.code == .failedPrecondition && error.message.contains("not enabled") {
            self.logger.warning("etcd authentication is not enabled; the etcd user name and password are not used", metadata: ["endpoint": "\(member.endpoint)"])
            self.state.withLock { $0.authDisabled = true }
            return nil
        } catch let error as RPCError where error.code == .invalidArgument {
            throw RegistryError.unavailable(
                "\(self.storeDescription) rejected user '\(credentials.username)' at \(member.endpoint): \(error.message)"
            )
        }
    }
}
