import Logging
import RegistryGRPC
import ServiceLifecycle
import UnixSignals

/// Reloads the access policy file on SIGHUP (docs/security.md).
///
/// The new policy applies to every call that starts after it is read; calls in flight
/// finish under the one they started with, and none is dropped. A file that cannot be
/// read or is not a valid policy is logged and the policy in force is kept.
struct PolicyReloader: Service {
    let path: String
    let store: AccessPolicyStore
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            self.reload()
        }
    }

    /// Reads the file and puts it in force, or keeps the current policy.
    func reload() {
        do {
            let policy = try AccessPolicy(contentsOfFile: self.path)
            self.store.replace(policy)
            self.logger.notice(
                "access policy reloaded",
                metadata: ["auth_file": "\(self.path)", "tokens": "\(policy.tokens.count)", "certificates": "\(policy.certificates.count)"]
            )
        } catch {
            self.logger.error(
                "access policy not reloaded; the previous one stays in force",
                metadata: ["auth_file": "\(self.path)", "error": "\(error)"]
            )
        }
    }
}
