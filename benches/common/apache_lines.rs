//! A deterministic set of realistic Apache "combined" access-log lines,
//! shared by `benches/grok.rs` and the `benches/grok-compare` program so
//! that both measure the very same bytes.
//!
//! The mix: about 80 % IPv4 clients, 12 % IPv6 (full, compressed and
//! IPv4-mapped forms) and 8 % host names; mostly anonymous users; GET-heavy
//! methods over a few hundred paths with and without query strings; the
//! usual spread of status codes; `-` for empty bodies and missing
//! referrers; a dozen real-world user agents; four time zones. Lines
//! average a little over 200 bytes.

/// SplitMix64: tiny, fast and fully specified, so every build and every
/// program produces identical lines.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const METHODS: &[&str] = &[
    "GET", "GET", "GET", "GET", "GET", "GET", "GET", "POST", "POST", "HEAD", "PUT", "DELETE",
    "OPTIONS",
];

const STATUSES: &[u16] = &[
    200, 200, 200, 200, 200, 200, 200, 200, 200, 304, 304, 301, 302, 404, 404, 403, 401, 500, 502,
    503, 206, 201, 204,
];

const DIRS: &[&str] = &[
    "",
    "/static",
    "/static/css",
    "/static/js",
    "/images",
    "/img/products",
    "/api/v1/users",
    "/api/v2/orders",
    "/blog/2026/03",
    "/docs/guide",
    "/wp-content/uploads/2025/11",
    "/downloads",
    "/shop/category/shoes",
    "/account",
    "/search",
    "/assets/fonts",
];

const FILES: &[&str] = &[
    "index.html",
    "favicon.ico",
    "app.min.js",
    "main.css",
    "logo.png",
    "hero-banner@2x.jpg",
    "robots.txt",
    "sitemap.xml",
    "login",
    "checkout",
    "product-12345.html",
    "feed.atom",
    "report.pdf",
    "font-regular.woff2",
    "12",
    "settings",
    "cart",
    "apache_pb.gif",
];

const QUERY_KEYS: &[&str] = &[
    "q",
    "page",
    "id",
    "utm_source",
    "sort",
    "lang",
    "session",
    "ref",
];

const QUERY_VALUES: &[&str] = &[
    "1",
    "2",
    "17",
    "shoes",
    "red%20dress",
    "newsletter",
    "price_desc",
    "en-GB",
    "a8f3c2d1e0",
    "twitter",
    "true",
];

const REFERRERS: &[&str] = &[
    "https://www.google.com/",
    "https://www.google.com/search?q=running+shoes&client=firefox-b-d",
    "https://www.bing.com/search?q=example+shop",
    "https://duckduckgo.com/",
    "https://www.example.com/",
    "https://www.example.com/shop/category/shoes",
    "https://www.example.com/blog/2026/03/spring-sale.html",
    "http://m.facebook.com/",
    "https://t.co/Xy12AbCdEf",
    "android-app://com.google.android.gm/",
];

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
    "Wget/1.21.4",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Prometheus/2.51.0",
];

const USERS: &[&str] = &[
    "frank",
    "alice",
    "bob.smith",
    "svc-backup",
    "jdoe@example.com",
];

const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

const ZONES: &[&str] = &["+0000", "+0000", "-0700", "+0200", "+0530"];

const HOSTS: &[&str] = &[
    "crawler-66-249-66-1.googlebot.com",
    "proxy.example.net",
    "cache-fra1234.fra.example-cdn.com",
    "localhost",
    "dhcp-17.office.example.org",
];

fn ipv6(rng: &mut Rng) -> String {
    let g = |rng: &mut Rng| format!("{:x}", rng.below(0x10000));
    match rng.below(4) {
        // Compressed global unicast: 2001:db8:85a3::8a2e:370:7334
        0 => format!("2001:db8:{}::{}:{}:{}", g(rng), g(rng), g(rng), g(rng)),
        // Full eight groups.
        1 => (0..8).map(|_| g(rng)).collect::<Vec<_>>().join(":"),
        // IPv4-mapped.
        2 => format!(
            "::ffff:{}.{}.{}.{}",
            rng.below(224),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        ),
        // Short forms: 2a00:1450:4001:82a::200e, fe80::1
        _ => {
            if rng.below(2) == 0 {
                format!("2a00:1450:{}:{}::{}", g(rng), g(rng), g(rng))
            } else {
                format!("fe80::{}", g(rng))
            }
        }
    }
}

fn client(rng: &mut Rng) -> String {
    match rng.below(100) {
        0..=79 => format!(
            "{}.{}.{}.{}",
            1 + rng.below(223),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        ),
        80..=91 => ipv6(rng),
        _ => rng.pick(HOSTS).to_string(),
    }
}

fn path(rng: &mut Rng) -> String {
    let mut p = format!("{}/{}", rng.pick(DIRS), rng.pick(FILES));
    if rng.below(3) == 0 {
        let n = 1 + rng.below(3);
        for i in 0..n {
            p.push(if i == 0 { '?' } else { '&' });
            let key: &str = rng.pick::<&str>(QUERY_KEYS);
            p.push_str(key);
            p.push('=');
            let value: &str = rng.pick::<&str>(QUERY_VALUES);
            p.push_str(value);
        }
    }
    p
}

/// One line, from a generator state.
pub fn line(rng: &mut Rng) -> String {
    let client = client(rng);
    let user = if rng.below(20) == 0 {
        *rng.pick(USERS)
    } else {
        "-"
    };
    let day = 1 + rng.below(28);
    let month = rng.pick(MONTHS);
    let year = 2024 + rng.below(3);
    let (h, m, s) = (rng.below(24), rng.below(60), rng.below(60));
    let zone = rng.pick(ZONES);
    let method = rng.pick(METHODS);
    let path = path(rng);
    let version = match rng.below(10) {
        0 => "1.0",
        1..=6 => "1.1",
        _ => "2.0",
    };
    let status = *rng.pick(STATUSES);
    let size = if matches!(status, 204 | 304) || rng.below(25) == 0 {
        "-".to_owned()
    } else {
        (100 + rng.below(250_000)).to_string()
    };
    let referrer = if rng.below(4) == 0 {
        "-"
    } else {
        *rng.pick(REFERRERS)
    };
    let agent = rng.pick(AGENTS);
    format!(
        "{client} - {user} [{day:02}/{month}/{year}:{h:02}:{m:02}:{s:02} {zone}] \"{method} {path} HTTP/{version}\" {status} {size} \"{referrer}\" \"{agent}\""
    )
}

/// The first `n` lines of the set (seed fixed).
pub fn lines(n: usize) -> Vec<String> {
    let mut rng = Rng::new(0x6A6E_7964_656D_6521);
    (0..n).map(|_| line(&mut rng)).collect()
}

/// How many lines a run uses: `GROK_BENCH_LINES`, default 1,000,000.
pub fn count_from_env() -> usize {
    std::env::var("GROK_BENCH_LINES")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000)
}
