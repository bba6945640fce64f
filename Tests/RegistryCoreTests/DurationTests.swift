import RegistryCore
import Testing

@Suite("Go duration syntax")
struct DurationTests {
    @Test("parses what Go's time.ParseDuration accepts", arguments: [
        ("0", Duration.zero), ("30s", .seconds(30)), ("500ms", .milliseconds(500)), ("1m30s", .seconds(90)),
        ("1.5h", .seconds(5400)), ("2h45m", .seconds(9900)), ("100us", .microseconds(100)), ("100µs", .microseconds(100)),
        ("7ns", .nanoseconds(7)), (".5s", .milliseconds(500)), ("1.s", .seconds(1)), ("-2s", .seconds(-2)), ("+3m", .seconds(180)),
        ("1h0m0s", .seconds(3600)),
    ])
    func parses(_ text: String, _ expected: Duration) {
        #expect(Duration(goSyntax: text) == expected)
    }

    @Test("rejects what Go rejects", arguments: ["", "30", "s", "1x", "1.5", "--1s", "1 s", "1s ", ".s", "99999999999999999999h", "3000000h"])
    func rejects(_ text: String) {
        #expect(Duration(goSyntax: text) == nil)
    }

    @Test("prints as Go prints", arguments: [
        (Duration.zero, "0s"), (.seconds(30), "30s"), (.seconds(90), "1m30s"), (.seconds(3600), "1h0m0s"),
        (.milliseconds(1500), "1.5s"), (.milliseconds(500), "500ms"), (.microseconds(1), "1µs"), (.nanoseconds(3), "3ns"),
        (.seconds(-2), "-2s"),
    ])
    func prints(_ duration: Duration, _ expected: String) {
        #expect(duration.goDescription == expected)
    }
}
