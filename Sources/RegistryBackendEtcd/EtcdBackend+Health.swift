import Logging
import SwiftProtobuf
import RegistryCore

extension EtcdBackend {
    /// How often etcd is probed while it answers.
    static var probeInterval: Duration { .seconds(1) }
    /// How often etcd is probed while it does not.
    static var recoveryProbeInterval: Duration { .milliseconds(250) }

    /// Probes etcd until cancelled, reporting on ``health`` whether it answers.
    ///
    /// The probe is a linearizable count of the backend's keys: it needs a quorum, so a
    /// cluster that lost one answers NOT_SERVING within the timeout. Every backend call
    /// reports too, so failures show up between probes.
    func monitorHealth() async {
        var wasServing = false
        while !Task.isCancelled {
            do {
                _ = try await self.client.range(.prefix(self.keys.prefix, limit: 1, countOnly: true), by: self.client.operationDeadline(), counted: false)
            } catch is CancellationError {
                return
            } catch {
                let reason = (error as? RegistryError)?.message ?? "\(self.client.storeDescription) failed: \(error)"
                if self.health.status.isServing {
                    self.logger.warning("etcd is not answering; reporting NOT_SERVING", metadata: ["reason": "\(reason)"])
                }
                self.health.report(.notServing(reason: reason))
            }
            let serving = self.health.status.isServing
            if serving, !wasServing {
                self.logger.info("etcd answers; reporting SERVING", metadata: ["endpoints": "\(self.client.configuration.endpointsDescription)"])
            }
            wasServing = serving
            do {
                try await Task.sleep(for: serving ? Self.probeInterval : Self.recoveryProbeInterval)
            } catch {
                return
            }
        }
    }
}
