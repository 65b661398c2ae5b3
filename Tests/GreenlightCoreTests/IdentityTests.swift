import Testing

@testable import GreenlightCore
@testable import GreenlightPolicyFile

@Suite("Identities: one form where they enter, refused when they cannot be matched safely")
struct IdentityTests {
    static let policy = try! PolicyParser(file: "test.yaml").parse(Fixtures.policyYAML).policy

    /// Every way of writing alice's GitHub login that a pipeline might send, deliberately or not.
    static let aliceSpellings = [
        "alice-gh ", "\talice-gh", "alice-gh\n", "alice-gh\r\n", "alice-gh\u{00A0}", "\u{2003}alice-gh", "ALICE-GH", "Alice-Gh\u{3000}",
        " alice@EXAMPLE.com", "U01ALICE\t", "alice",
    ]

    @Test("white space around an identity, and its case, still name the person", arguments: aliceSpellings)
    func resolves(spelling: String) throws {
        let normalized = try Identity.normalized(spelling).get()
        #expect(Self.policy.person(identifiedBy: normalized)?.name == "alice", "\(spelling.debugEscaped)")
    }

    @Test("an author written any of those ways is barred from approving", arguments: aliceSpellings)
    func barred(spelling: String) {
        let request = Fixtures.request(authors: [spelling], triggeredBy: " bob-gh\u{00A0}").normalizingIdentities()
        #expect(request.validationErrors().isEmpty)
        let plan = Self.policy.plan(for: request)
        #expect(plan.exclusion(for: "alice")?.role == .author, "\(spelling.debugEscaped)")
        #expect(plan.exclusion(for: "bob")?.role == .triggerer)
        #expect(!plan.approvers.contains("alice"))
    }

    static let refused: [(String, String)] = [
        ("alice\u{200B}-gh", "U+200B"),  // zero-width space
        ("alice-gh\u{200D}", "U+200D"),  // zero-width joiner, trailing (not trimmed: it is not white space)
        ("\u{FEFF}alice-gh", "U+FEFF"),  // byte-order mark
        ("alice\u{00AD}-gh", "U+00AD"),  // soft hyphen
        ("alice-gh\u{202E}", "U+202E"),  // right-to-left override
        ("alice\u{0000}", "U+0000"),
        ("ali\u{00A0}ce", "U+00A0"),  // a no-break space inside
        ("ａｌｉｃｅ-gh", "'alice-gh'"),  // full-width letters
        ("ﬁnance-bot", "'finance-bot'"),  // a ligature
        ("\u{0430}lice-gh", "U+0430"),  // Cyrillic а
        ("alice-g\u{04BB}", "U+04BB"),  // Cyrillic һ
        ("\u{03B1}lice", "U+03B1"),  // Greek α
        ("", "empty"),
        (" \t\n", "empty"),
        (String(repeating: "a", count: 255), "at most 254"),
    ]

    @Test("invisible characters, compatibility look-alikes and mixed scripts are refused, with what to fix", arguments: refused)
    func refusedIdentities(spelling: String, named: String) {
        guard case .failure(let problem) = Identity.normalized(spelling) else {
            Issue.record("'\(spelling.debugEscaped)' was accepted")
            return
        }
        #expect(problem.description.contains(named), "\(problem)")
        var request = Fixtures.request(authors: ["bob-gh", spelling]).normalizingIdentities()
        #expect(request.validationErrors().map(\.field) == ["authors[1]"])
        request = Fixtures.request(triggeredBy: spelling).normalizingIdentities()
        #expect(request.validationErrors().map(\.field) == ["triggered_by"])
    }

    @Test("names in one script other than Latin, and accented Latin, are people too")
    func otherScripts() throws {
        #expect(try Identity.normalized("Дмитрий").get() == "Дмитрий")
        #expect(try Identity.normalized("josé.garcía@example.com ").get() == "josé.garcía@example.com")
        // NFC: a decomposed é is stored precomposed, so both spellings are one person.
        #expect(try Identity.normalized("jose\u{301}").get().unicodeScalars.count == 4)
        #expect(Identity.matches("JOSÉ", "jose\u{301}"))
    }

    @Test("normalising twice changes nothing, and authors are each kept once")
    func idempotent() throws {
        let request = Fixtures.request(authors: ["alice-gh ", "Alice-GH", "bob-gh"], triggeredBy: " ci-bot ").normalizingIdentities()
        #expect(request.authors == ["alice-gh", "bob-gh"])
        #expect(request.triggeredBy == "ci-bot")
        #expect(request.normalizingIdentities() == request)
    }

    @Test("error messages show invisible characters escaped")
    func escaped() {
        #expect("alice\u{200B}\t".debugEscaped == "alice\\u{200B}\\u{9}")
        #expect("plain name".debugEscaped == "plain name")
    }
}

@Suite("Identities in the policy")
struct PolicyIdentityTests {
    @Test(
        "a person, login, e-mail or member that cannot be matched safely is an error with its line",
        arguments: [
            ("people:\n  alice: { github: \"alice-gh \" }", "people.alice.github", 2),
            ("people:\n  alice: { email: \"alice\\u200B@example.com\" }", "people.alice.email", 2),
            ("people:\n  \"ａlice\": { github: alice-gh }", "people.ａlice", 2),
            ("people:\n  alice: { github: \"\\u0430lice-gh\" }", "people.alice.github", 2),
            ("groups:\n  leads: { members: [alice, \"bob\\t\"] }", "groups.leads.members", 2),
        ])
    func refused(yaml: String, key: String, line: Int) throws {
        let document =
            yaml + (yaml.hasPrefix("groups") ? "" : "\ngroups:\n  leads: { members: [alice] }")
            + "\ndefault: { require: [ { group: leads, count: 1 } ] }"
        do {
            _ = try PolicyParser(file: "p.yaml").parse(document)
            Issue.record("accepted: \(document)")
        } catch {
            #expect(error.diagnostics.contains { $0.severity == .error && $0.key == key && $0.line == line }, "\(error.diagnostics)")
        }
    }
}

@Suite("Look-alikes and shared identities")
struct LookAlikeTests {
    static let policy = try! PolicyParser(file: "test.yaml").parse(Fixtures.policyYAML).policy

    @Test(
        "an author that only looks like a person's identity bars that person too",
        arguments: ["ALİCE", "alıce", "a\u{0323}lice", "ạlice", "alicé", "alice\u{2010}gh", "alice\u{2212}gh", "alice\u{0332}"])
    func lookAlikeBarred(spelling: String) {
        let plan = Self.policy.plan(for: Fixtures.request(authors: [spelling]))
        #expect(plan.exclusion(for: "alice")?.role == .author, "\(spelling.debugEscaped): \(plan.exclusions)")
        #expect(!plan.approvers.contains("alice"))
    }

    @Test("two people may not share a login or an e-mail, whatever its case")
    func sharedIdentityRefused() {
        let yaml = """
            people:
              alice: { github: alice-gh, email: Ops@Example.com }
              aaron: { github: ALICE-GH }
              zed: { email: ops@example.com }
            groups:
              leads: { members: [alice, aaron, zed] }
            default: { require: [ { group: leads, count: 1 } ] }
            """
        do {
            _ = try PolicyParser(file: "p.yaml").parse(yaml)
            Issue.record("a shared identity was accepted")
        } catch {
            let keys = error.diagnostics.filter { $0.severity == .error }.map(\.key)
            #expect(keys.contains("people.aaron.github"), "\(error.diagnostics)")
            #expect(keys.contains("people.zed.email"), "\(error.diagnostics)")
        }
    }

    @Test("a group listing one person twice in two cases is refused: one person, one seat")
    func memberTwice() {
        let yaml = "groups:\n  leads: { members: [alice, Alice] }\ndefault: { require: [ { group: leads, count: 2 } ] }"
        #expect(throws: PolicyValidationError.self) { try PolicyParser(file: "p.yaml").parse(yaml) }
    }
}
