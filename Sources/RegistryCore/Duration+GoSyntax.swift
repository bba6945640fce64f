/// Go's duration syntax ("500ms", "30s", "1m30s", "1.5h"), which the Go registry's
/// flags use, so existing configuration keeps working unchanged.
extension Duration {
    /// Parses a Go duration: an optional sign, then one or more decimal numbers (with an
    /// optional fraction), each followed by a unit: ns, us (or µs), ms, s, m or h. "0"
    /// alone is zero.
    /// - Returns: nil when `text` is not in that syntax or overflows.
    public init?(goSyntax text: String) {
        var scalars = Substring(text).unicodeScalars[...]
        var negative = false
        if let sign = scalars.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            scalars = scalars.dropFirst()
        }
        if String(scalars) == "0" {
            self = .zero
            return
        }
        if scalars.isEmpty {
            return nil
        }
        // Accumulate in nanoseconds; Int64 covers about ±292 years, as in Go.
        var total: Int64 = 0
        while !scalars.isEmpty {
            let digitsBefore = scalars.prefix(while: { $0.properties.numericType == .decimal && $0.isASCII })
            scalars = scalars.dropFirst(digitsBefore.count)
            var digitsAfter = Substring.UnicodeScalarView()[...]
            if scalars.first == "." {
                scalars = scalars.dropFirst()
                digitsAfter = scalars.prefix(while: { $0.properties.numericType == .decimal && $0.isASCII })
                scalars = scalars.dropFirst(digitsAfter.count)
            }
            if digitsBefore.isEmpty && digitsAfter.isEmpty {
                return nil
            }
            let unitText = String(scalars.prefix(while: { !($0.isASCII && ($0.properties.numericType == .decimal || $0 == ".")) }))
            scalars = scalars.dropFirst(unitText.unicodeScalars.count)
            guard let unit = Self.goUnits[unitText] else {
                return nil
            }
            guard let whole = Int64(String(digitsBefore).isEmpty ? "0" : String(digitsBefore)) else {
                return nil
            }
            let (scaled, overflow) = whole.multipliedReportingOverflow(by: unit)
            if overflow { return nil }
            var value = scaled
            // The fraction, rounded down to whole nanoseconds.
            var scale = unit
            for digit in digitsAfter.prefix(19) {
                scale /= 10
                if scale == 0 { break }
                value += Int64(digit.value - 48) * scale
            }
            let (sum, sumOverflow) = total.addingReportingOverflow(value)
            if sumOverflow { return nil }
            total = sum
        }
        self = .nanoseconds(negative ? -total : total)
    }

    private static let goUnits: [String: Int64] = [
        "ns": 1,
        "us": 1_000,
        "µs": 1_000,  // U+00B5 micro sign
        "μs": 1_000,  // U+03BC Greek mu
        "ms": 1_000_000,
        "s": 1_000_000_000,
        "m": 60_000_000_000,
        "h": 3_600_000_000_000,
    ]

    /// The duration as Go prints it: "1h30m0s", "30s", "1.5s", "500ms", "0s".
    public var goDescription: String {
        let (seconds, attoseconds) = self.components
        let nanoseconds = seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
        let sign = nanoseconds < 0 ? "-" : ""
        let magnitude = nanoseconds.magnitude
        if magnitude == 0 {
            return "0s"
        }
        if magnitude < 1_000 {
            return "\(sign)\(magnitude)ns"
        }
        if magnitude < 1_000_000 {
            return sign + Self.decimal(magnitude, unit: 1_000) + "µs"
        }
        if magnitude < 1_000_000_000 {
            return sign + Self.decimal(magnitude, unit: 1_000_000) + "ms"
        }
        let hours = magnitude / 3_600_000_000_000
        let minutes = magnitude / 60_000_000_000 % 60
        let secondsPart = Self.decimal(magnitude % 60_000_000_000, unit: 1_000_000_000) + "s"
        if hours > 0 {
            return "\(sign)\(hours)h\(minutes)m\(secondsPart)"
        }
        if minutes > 0 {
            return "\(sign)\(minutes)m\(secondsPart)"
        }
        return sign + secondsPart
    }

    /// `value / unit` with its fraction, trailing zeros removed: 1500 / 1000 -> "1.5".
    private static func decimal(_ value: UInt64, unit: UInt64) -> String {
        let whole = value / unit
        var fraction = value % unit
        if fraction == 0 {
            return "\(whole)"
        }
        var width = String(unit).count - 1
        while fraction % 10 == 0 {
            fraction /= 10
            width -= 1
        }
        let digits = String(fraction)
        return "\(whole)." + String(repeating: "0", count: width - digits.count) + digits
    }
}
