//! Tagging throughput (`cargo bench --bench tagging`): every message of the linux-man archive,
//! parsed once beforehand into its subject and trimmed body text, tagged against 200 interest
//! rules (the 21 of `fixtures/tags/interests.toml` and 179 generated ones of medical and
//! technical words and phrases, a few with patterns) on one thread. Target: 50,000 messages/s
//! or more. A plain `main`, no harness: the figures are printed, never asserted (DESIGN:
//! performance is measured, not a timed test).

mod timing;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use listbridge::archive::readers::read_paths;
use listbridge::mail::parse::parse_message;
use listbridge::mail::render::RenderOptions;
use listbridge::tags::{InterestRules, Tagger, parse_rules_toml};
use timing::best_of;

const RULES: usize = 200;
const RUNS: usize = 5;

/// Subject and body text of every message, parsed before anything is timed.
fn load_archive() -> Vec<(String, String)> {
    let path = timing::linux_man_archive("tagging");
    let reader = read_paths(&[path]).unwrap_or_else(|e| {
        eprintln!("tagging bench: cannot read the archive: {e}");
        std::process::exit(2);
    });
    let options = RenderOptions::default();
    reader
        .filter_map(|m| {
            let m = m.ok()?;
            let parsed = parse_message(&m.bytes, m.envelope.as_deref(), &options).ok()?;
            Some((parsed.subject.unwrap_or_default(), parsed.body_text))
        })
        .collect()
}

const MEDICAL: &str = "abscess acidosis addison adenoma albumin alopecia amenorrhoea amyloidosis \
    aneurysm angioedema ankylosing anorexia aortic appendicitis arrhythmia arteritis ascites \
    ataxia atelectasis autism bacteraemia biliary blepharitis bradycardia bronchiectasis \
    bulimia bursitis calculi candidiasis carditis cataract cholangitis cholecystitis \
    cirrhosis claudication coeliac colitis conjunctivitis constipation contracture cyanosis \
    cystitis dehydration delirium dementia diverticulitis dysphagia dyspepsia dyspnoea \
    dysuria embolism encephalitis endocarditis enuresis epicondylitis erythema fibromyalgia \
    fistula gallstones gastritis gastroenteritis glaucoma glomerulonephritis goitre \
    haematuria haemorrhoids hepatitis hernia herpes hirsutism hydrocephalus hyperkalaemia \
    hyperthyroidism hypokalaemia hyponatraemia hypothyroidism ileus incontinence \
    intussusception ischaemia jaundice keratitis labyrinthitis laryngitis lipoma lupus \
    lymphadenopathy mastitis meningitis mesothelioma myasthenia myeloma myocarditis \
    myositis nephrotic neuralgia oesophagitis osteomyelitis osteoporosis pancreatitis \
    papilloedema pericarditis peritonitis pharyngitis phlebitis pleurisy pneumonia \
    pneumothorax polymyalgia proteinuria pruritus pyelonephritis sarcoidosis scabies \
    scleritis scoliosis splenomegaly stenosis syncope tachycardia tendinopathy thrombosis \
    thyroiditis tonsillectomy uveitis vasculitis vitiligo";

const TECHNICAL: &str = "allocator assembler backtrace bootloader breakpoint bytecode \
    checksum chroot compiler coredump cronjob daemon deadlock debugger decompression \
    descriptor dispatcher emulator encoding endianness epoll filesystem firmware fork \
    framebuffer futex hashtable heap hypervisor inode interrupt iptables journald kernel \
    keyring linker locale malloc mmap mutex namespace netlink overflow pagination \
    partition pipeline preprocessor profiler pthread quota readahead recursion regex \
    scheduler semaphore serialization shell signal socket spinlock stack symlink syscall \
    sysfs terminal thread timestamp tokenizer truncation udev unicode utf8 virtualization \
    watchdog whitespace wrapper xattr";

const ADJECTIVES: &str = "acute chronic recurrent severe congenital bilateral primary \
    secondary atypical idiopathic kernel network memory buffer signal process";

/// The fixture's interests, then generated ones up to `RULES`: eight keywords each, words and
/// two-word phrases, and a pattern on every 40th.
fn interests() -> Vec<InterestRules> {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/tags/interests.toml"),
    )
    .expect("fixtures/tags/interests.toml");
    let mut rules = parse_rules_toml(&text).expect("the fixture's rules parse");
    let medical: Vec<&str> = MEDICAL.split_whitespace().collect();
    let technical: Vec<&str> = TECHNICAL.split_whitespace().collect();
    let adjectives: Vec<&str> = ADJECTIVES.split_whitespace().collect();
    let patterns = [
        r"\bCVE-\d{4}-\d{4,}\b",
        r"\bRFC ?\d{3,4}\b",
        r"\bglibc ?2\.\d+\b",
        r"\b(?:ioctl|fcntl)\([^)]*\bF_[A-Z]+",
        r"\bkernel (?:version )?[3-6]\.\d+\b",
    ];
    let mut n = 0;
    while rules.len() < RULES {
        let words = if n % 3 == 0 { &technical } else { &medical };
        let mut keywords = Vec::new();
        for k in 0..8 {
            let word = words[(n * 7 + k * 13) % words.len()];
            keywords.push(if k % 3 == 2 {
                format!("{} {word}", adjectives[(n + k) % adjectives.len()])
            } else {
                word.to_owned()
            });
        }
        let patterns = if n % 40 == 0 {
            vec![patterns[(n / 40) % patterns.len()].to_owned()]
        } else {
            Vec::new()
        };
        rules.push(InterestRules {
            slug: format!("generated-{n}"),
            name: format!("Generated {n}"),
            keywords,
            patterns,
        });
        n += 1;
    }
    rules
}

fn main() {
    let messages = load_archive();
    let bytes: usize = messages.iter().map(|(s, b)| s.len() + b.len()).sum();
    let rules = interests();
    let keywords: usize = rules.iter().map(|r| r.keywords.len()).sum();
    let patterns: usize = rules.iter().map(|r| r.patterns.len()).sum();
    let start = Instant::now();
    let tagger = Tagger::new(&rules).expect("the rules compile");
    println!(
        "{} interests, {keywords} keywords, {patterns} patterns: built in {:.1} ms",
        rules.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "linux-man: {} messages, {:.1} MB of subject and body text",
        messages.len(),
        bytes as f64 / 1e6
    );

    let (wall, cpu) = best_of(RUNS, || {
        for (subject, body) in &messages {
            black_box(tagger.tag(subject, body));
        }
    });
    let rate = |d: Duration| messages.len() as f64 / d.as_secs_f64();
    println!(
        "  tag(), one thread, best of {RUNS}: {:.3} s, {:.0} messages/s, {:.0} MB/s{} \
         (target >= 50,000 messages/s)",
        wall.as_secs_f64(),
        rate(wall),
        bytes as f64 / 1e6 / wall.as_secs_f64(),
        cpu.map(|c| format!(
            " (on CPU {:.3} s: {:.0} messages/s)",
            c.as_secs_f64(),
            rate(c)
        ))
        .unwrap_or_default()
    );

    let tagged: Vec<Vec<usize>> = messages.iter().map(|(s, b)| tagger.tag(s, b)).collect();
    let with_tag = tagged.iter().filter(|t| !t.is_empty()).count();
    let fixture_only = tagged.iter().filter(|t| t.iter().any(|&i| i < 21)).count();
    println!(
        "  {with_tag} of {} messages ({:.1}%) got at least one tag; {fixture_only} one of the \
         fixture's clinical interests",
        messages.len(),
        with_tag as f64 * 100.0 / messages.len() as f64
    );
    let mut counts = vec![0usize; rules.len()];
    tagged.iter().flatten().for_each(|&i| counts[i] += 1);
    let mut top: Vec<(usize, &str)> = counts
        .iter()
        .zip(&rules)
        .map(|(&c, r)| (c, r.slug.as_str()))
        .filter(|(c, _)| *c > 0)
        .collect();
    top.sort_unstable_by(|a, b| b.cmp(a));
    let top: Vec<String> = top
        .iter()
        .take(8)
        .map(|(c, s)| format!("{s} {c}"))
        .collect();
    println!("  most tagged: {}", top.join(", "));
}
