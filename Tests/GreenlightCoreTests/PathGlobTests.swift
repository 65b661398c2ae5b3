import Testing

@testable import GreenlightCore

@Suite("PathGlob")
struct PathGlobTests {
    /// A pattern, a path, and whether the path must match.
    struct Case: Sendable, CustomTestStringConvertible {
        let pattern: String
        let path: String
        let matches: Bool

        init(_ pattern: String, _ path: String, _ matches: Bool) {
            self.pattern = pattern
            self.path = path
            self.matches = matches
        }

        var testDescription: String { "'\(pattern)' \(matches ? "matches" : "does not match") '\(path)'" }
    }

    static let cases: [Case] = [
        // Literals, including dots, which a regex-translating implementation might leave as "any character".
        Case("README.md", "README.md", true),
        Case("README.md", "READMEXmd", false),
        Case("README.md", "readme.md", false),
        Case("src/main.swift", "src/main.swift", true),
        Case("src/main.swift", "src/main.swift.bak", false),
        Case("src", "src/main.swift", false),
        // `*` stays within one segment, and may be empty.
        Case("*.sql", "init.sql", true),
        Case("*.sql", ".sql", true),
        Case("*.sql", "db/init.sql", false),
        Case("db/*", "db/init.sql", true),
        Case("db/*", "db/migrations/001.sql", false),
        Case("db/*/001.sql", "db/migrations/001.sql", true),
        Case("a*b*c", "axxbyyc", true),
        Case("a*b*c", "axxbyy", false),
        Case("a*b", "a/b", false),
        Case("shop-*", "shop-api", true),
        Case("shop-*", "shop", false),
        // `?` is exactly one character, never `/`.
        Case("v?.sql", "v1.sql", true),
        Case("v?.sql", "v.sql", false),
        Case("v?.sql", "v12.sql", false),
        Case("a?b", "a/b", false),
        // `**` at the end: everything below, and the directory itself (zero segments).
        Case("db/migrations/**", "db/migrations/001.sql", true),
        Case("db/migrations/**", "db/migrations/2026/01/001.sql", true),
        Case("db/migrations/**", "db/migrations", true),
        Case("db/migrations/**", "db/migrationsX/001.sql", false),
        Case("db/migrations/**", "db/seeds/001.sql", false),
        // `**` at the start: any depth including none.
        Case("**/*.sql", "init.sql", true),
        Case("**/*.sql", "db/migrations/001.sql", true),
        Case("**/*.sql", "db/migrations/001.sql.gz", false),
        Case("**", "anything/at/all", true),
        // `**` in the middle: zero or more segments between.
        Case("a/**/b", "a/b", true),
        Case("a/**/b", "a/x/b", true),
        Case("a/**/b", "a/x/y/b", true),
        Case("a/**/b", "a/x/y/c", false),
        Case("a/**/b", "ab", false),
        Case("a/**/b/**/c", "a/1/b/2/b/3/c", true),
        Case("a/**/b/**/c", "a/b/c", true),
        Case("a/**/b/**/c", "a/c/b", false),
        // Several `**` and a backtracking `*` together.
        Case("**/test/**/*_test.go", "svc/test/unit/db/store_test.go", true),
        Case("**/test/**/*_test.go", "svc/tests/unit/store_test.go", false),
    ]

    @Test("matches", arguments: cases)
    func matching(_ testCase: Case) throws {
        let glob = try PathGlob(testCase.pattern)
        #expect(glob.matches(testCase.path) == testCase.matches)
    }

    static let invalid: [(String, PathGlobError)] = [
        ("", .empty),
        ("/src/**", .leadingSlash(pattern: "/src/**")),
        ("a**", .partialDoubleStar(pattern: "a**", segment: "a**")),
        ("src/**b", .partialDoubleStar(pattern: "src/**b", segment: "**b")),
        ("***/x", .partialDoubleStar(pattern: "***/x", segment: "***")),
    ]

    @Test("refuses malformed patterns with the reason", arguments: invalid)
    func refusing(_ pattern: String, _ error: PathGlobError) {
        #expect(throws: error) { try PathGlob(pattern) }
    }

    @Test("a partial ** says how to write it")
    func partialDoubleStarMessage() {
        let message = PathGlobError.partialDoubleStar(pattern: "src/**b", segment: "**b").description
        #expect(message.contains("'**/'") && message.contains("'*'"))
        #expect(PathGlobError.leadingSlash(pattern: "/src/**").description.contains("write 'src/**'"))
    }

    @Test("many ** against a long non-matching path finishes and does not match")
    func pathological() throws {
        let glob = try PathGlob("**/*a*/**/*a*/**/*a*/**/*a*/**/x")
        let path = Array(repeating: "aaaaaaaaaaaaaaaaaaaa", count: 200).joined(separator: "/") + "/y"
        #expect(!glob.matches(path))
        #expect(try !PathGlob("**/**/**/**/**/x").matches(path))
        #expect(try PathGlob("**/**/**/**/**/y").matches(path))
        // Within one segment too: many stars against a long run with no final match.
        #expect(try !PathGlob("*a*a*a*a*a*a*a*b").matches(String(repeating: "a", count: 5_000)))
    }

    @Test("equality and description follow the pattern")
    func identity() throws {
        #expect(try PathGlob("**/*.sql") == PathGlob("**/*.sql"))
        #expect(try PathGlob("**/*.sql") != PathGlob("**/*.SQL"))
        #expect(try PathGlob("db/**").description == "db/**")
        #expect(try Set([PathGlob("a/*"), PathGlob("a/*"), PathGlob("b/*")]).count == 2)
    }
}
