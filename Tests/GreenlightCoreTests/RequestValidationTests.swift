import Testing

@testable import GreenlightCore

@Suite("Gate request validation")
struct RequestValidationTests {
    @Test("a well-formed request has no errors")
    func valid() {
        #expect(Fixtures.request().validationErrors().isEmpty)
    }

    @Test("every problem is named by its field")
    func problems() {
        var request = Fixtures.request()
        request.service = "shop service"
        request.commit = "main"
        request.runURL = "javascript:alert(1)"
        request.callbackURL = "https://10.0.0.5/hook"
        let fields = request.validationErrors().map(\.field)
        #expect(fields == ["service", "commit", "run_url", "callback_url"])
    }

    @Test(
        "callbacks to private addresses are refused unless allow-listed",
        arguments: [
            "https://localhost/x", "https://127.0.0.1/x", "https://192.168.1.2/x", "https://172.20.0.1/x", "https://169.254.169.254/latest",
            "https://[::1]/x", "http://hooks.example.com/x", "https://metadata.internal/x",
        ])
    func privateCallbacks(url: String) {
        #expect(CallbackAddress.problem(with: url) != nil)
    }

    @Test("a public https callback, or an allow-listed host, is accepted")
    func publicCallbacks() {
        #expect(CallbackAddress.problem(with: "https://hooks.example.com/greenlight") == nil)
        #expect(CallbackAddress.problem(with: "http://10.0.0.5/x", allowedHosts: ["10.0.0.5"]) == nil)
    }
}
