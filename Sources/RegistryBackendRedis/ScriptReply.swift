import RESP
import RegistryCore

/// A script's reply: `{status, now, ...}` for the single-entry scripts.
struct ScriptReply {
    let values: [RESPValue]
    /// Which script answered, for messages.
    let script: String

    /// The first element, e.g. `ok`, `missing`, `full`.
    var status: String {
        self.values.first?.string ?? ""
    }

    /// The script's time.
    var now: UnixMilliseconds {
        UnixMilliseconds(self.integer(at: 1) ?? 0)
    }

    func string(at index: Int) -> String? {
        index < self.values.count ? self.values[index].string : nil
    }

    func integer(at index: Int) -> Int64? {
        index < self.values.count ? self.values[index].int64 : nil
    }

    /// The registry's error for a reply of an unknown shape: a bug, or a server running
    /// other scripts under our names.
    func unexpected() -> RegistryError {
        .internalError("the redis script for \(self.script) answered \(String(describing: RESPValue.array(self.values)).prefix(200))")
    }
}
