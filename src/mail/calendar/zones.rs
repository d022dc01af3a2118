//! Time zones: a TZID as calendars write it (IANA, Outlook's Windows names, prefixed or
//! quoted) to a chrono-tz zone, or, for a zone only the calendar itself describes, its
//! VTIMEZONE's yearly rules; and a local time in a zone to unix seconds.

use chrono::{Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, Offset};
use chrono::{TimeDelta, TimeZone, Weekday};
use chrono_tz::Tz;
use icalendar::parser::Component as Node;

use super::read::{date_of, date_time_of, is, prop};

/// The IANA zone of a TZID as calendars write it: an IANA name, a Windows name (Outlook's
/// "GMT Standard Time"), or one of those with a prefix some tools add ("/mozilla.org/…/").
pub fn zone(tzid: &str) -> Option<chrono_tz::Tz> {
    let mut name = clean_tzid(tzid);
    loop {
        if let Some(tz) = known_zone(name) {
            return Some(tz);
        }
        // "/mozilla.org/20070129_1/Europe/London", "/softwarestudio.org/Olson_…/Europe/London"
        name = name.split_once('/')?.1;
    }
}

/// A local time in a zone: at a clock change, an ambiguous time (the hour repeated) is the
/// earlier one, and a time that does not exist (the hour skipped) moves forward by the gap.
pub(super) fn unix_of_local(tz: Tz, local: NaiveDateTime) -> i64 {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.timestamp(),
        LocalResult::Ambiguous(a, b) => a.timestamp().min(b.timestamp()),
        LocalResult::None => {
            // Read with the offset in force before the gap, the clock shows the time past it.
            let before = local
                .checked_sub_signed(TimeDelta::days(1))
                .map_or(0, |day_before| {
                    tz.offset_from_utc_datetime(&day_before)
                        .fix()
                        .local_minus_utc()
                });
            local.and_utc().timestamp() - i64::from(before)
        }
    }
}

pub(super) enum Resolved {
    Zone(Tz),
    /// Only the calendar's own VTIMEZONE knows it (Outlook's "Customized Time Zone").
    Rules(Rules),
    Unknown,
}

pub(super) fn resolve(tzid: &str, zones: &[&Node<'_>]) -> Resolved {
    if let Some(tz) = zone(tzid) {
        return Resolved::Zone(tz);
    }
    let wanted = clean_tzid(tzid);
    let Some(vtimezone) = zones
        .iter()
        .find(|z| prop(z, "TZID").is_some_and(|p| clean_tzid(p.val.as_str()) == wanted))
    else {
        return Resolved::Unknown;
    };
    if let Some(tz) = prop(vtimezone, "X-LIC-LOCATION").and_then(|p| zone(p.val.as_str())) {
        return Resolved::Zone(tz);
    }
    Rules::read(vtimezone).map_or(Resolved::Unknown, Resolved::Rules)
}

fn clean_tzid(tzid: &str) -> &str {
    tzid.trim().trim_matches(['"', '\'']).trim()
}

fn known_zone(name: &str) -> Option<Tz> {
    if name.is_empty() {
        return None;
    }
    if [
        "UTC",
        "Z",
        "GMT",
        "Etc/UTC",
        "Etc/GMT",
        "Coordinated Universal Time",
    ]
    .iter()
    .any(|alias| alias.eq_ignore_ascii_case(name))
    {
        return Some(Tz::UTC);
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(tz);
    }
    if let Some((_, iana)) = WINDOWS_ZONES
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(name))
    {
        return iana.parse().ok();
    }
    // chrono-tz's own case-insensitive lookup is behind a feature; "europe/london" is rare.
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .copied()
}

/// Windows time-zone names (Outlook, Exchange) to IANA, after CLDR's windowsZones.xml
/// (territory "001"). Written out here: the crate `windows-timezones` has the same table, but
/// this much is not worth another dependency; a test checks that every name resolves.
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("UTC-11", "Etc/GMT+11"),
    ("Aleutian Standard Time", "America/Adak"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Standard Time", "America/Chicago"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time", "America/New_York"),
    ("Eastern Standard Time (Mexico)", "America/Cancun"),
    ("US Eastern Standard Time", "America/Indiana/Indianapolis"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires"),
    ("SA Eastern Standard Time", "America/Cayenne"),
    ("Montevideo Standard Time", "America/Montevideo"),
    ("UTC-02", "Etc/GMT+2"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("UTC", "UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("Syria Standard Time", "Asia/Damascus"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Azerbaijan Standard Time", "Asia/Baku"),
    ("Georgian Standard Time", "Asia/Tbilisi"),
    ("Caucasus Standard Time", "Asia/Yerevan"),
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("Myanmar Standard Time", "Asia/Yangon"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("China Standard Time", "Asia/Shanghai"),
    ("North Asia East Standard Time", "Asia/Irkutsk"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("Vladivostok Standard Time", "Asia/Vladivostok"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
    ("Samoa Standard Time", "Pacific/Apia"),
    ("Line Islands Standard Time", "Pacific/Kiritimati"),
];

/// A VTIMEZONE's observances, for a TZID no table knows. Only the yearly "n-th weekday of a
/// month" rules Outlook writes are understood; any other RRULE makes the zone unknown.
pub(super) struct Rules(Vec<Observance>);

/// A STANDARD or DAYLIGHT block.
struct Observance {
    /// Its DTSTART, in the local time before the change.
    first: NaiveDateTime,
    offset_from: i32,
    offset_to: i32,
    yearly: Option<Yearly>,
}

/// `FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU`.
struct Yearly {
    month: u32,
    week: i8,
    weekday: Weekday,
    until: Option<NaiveDate>,
}

impl Rules {
    fn read(vtimezone: &Node<'_>) -> Option<Rules> {
        let mut observances = Vec::new();
        for block in &vtimezone.components {
            if !is(block, "STANDARD") && !is(block, "DAYLIGHT") {
                continue;
            }
            let first = prop(block, "DTSTART")
                .and_then(|p| date_time_of(p.val.as_str().trim()))?
                .0;
            let offset_to =
                prop(block, "TZOFFSETTO").and_then(|p| utc_offset_of(p.val.as_str()))?;
            let offset_from = prop(block, "TZOFFSETFROM")
                .and_then(|p| utc_offset_of(p.val.as_str()))
                .unwrap_or(offset_to);
            let yearly = match prop(block, "RRULE") {
                Some(rule) => Some(Yearly::read(rule.val.as_str())?),
                None => None,
            };
            observances.push(Observance {
                first,
                offset_from,
                offset_to,
                yearly,
            });
        }
        (!observances.is_empty()).then_some(Rules(observances))
    }

    /// Seconds east of UTC at a local time: the offset of the latest change before it.
    pub(super) fn offset_at(&self, local: NaiveDateTime) -> i32 {
        let mut latest: Option<(NaiveDateTime, i32)> = None;
        for observance in &self.0 {
            for change in observance.changes_near(local.year()) {
                if change <= local && latest.is_none_or(|(at, _)| change > at) {
                    latest = Some((change, observance.offset_to));
                }
            }
        }
        latest
            .map(|(_, offset)| offset)
            .or_else(|| self.0.iter().min_by_key(|o| o.first).map(|o| o.offset_from))
            .unwrap_or(0)
    }
}

impl Observance {
    /// Its changes in `year` and the year before (the latest change before a January date
    /// may be last year's).
    fn changes_near(&self, year: i32) -> Vec<NaiveDateTime> {
        let Some(rule) = &self.yearly else {
            return vec![self.first];
        };
        [year.saturating_sub(1), year]
            .into_iter()
            .filter_map(|y| {
                let date = rule.date_in(y)?;
                let at = date.and_time(self.first.time());
                (at >= self.first && rule.until.is_none_or(|until| date <= until)).then_some(at)
            })
            .collect()
    }
}

impl Yearly {
    fn read(rule: &str) -> Option<Yearly> {
        let (mut yearly, mut month, mut day, mut until) = (false, None, None, None);
        for part in rule.split(';').filter(|p| !p.trim().is_empty()) {
            let (key, value) = part.split_once('=')?;
            let value = value.trim();
            match key.trim().to_ascii_uppercase().as_str() {
                "FREQ" => yearly = value.eq_ignore_ascii_case("YEARLY"),
                "BYMONTH" => month = value.parse::<u32>().ok().filter(|m| (1..=12).contains(m)),
                "BYDAY" => day = nth_weekday_of(value),
                "UNTIL" => until = date_of(value.get(..8)?),
                "INTERVAL" if value == "1" => {}
                "WKST" => {}
                _ => return None,
            }
        }
        let (week, weekday) = day?;
        yearly.then_some(Yearly {
            month: month?,
            week,
            weekday,
            until,
        })
    }

    fn date_in(&self, year: i32) -> Option<NaiveDate> {
        if self.week > 0 {
            return NaiveDate::from_weekday_of_month_opt(
                year,
                self.month,
                self.weekday,
                u8::try_from(self.week).ok()?,
            );
        }
        let next_month = if self.month == 12 {
            NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, self.month + 1, 1)?
        };
        let last = next_month.pred_opt()?;
        let back =
            (last.weekday().num_days_from_monday() + 7 - self.weekday.num_days_from_monday()) % 7;
        let weeks_back = u32::from(self.week.unsigned_abs()).checked_sub(1)?;
        let date = last.checked_sub_days(Days::new(u64::from(back + 7 * weeks_back)))?;
        (date.month() == self.month).then_some(date)
    }
}

/// `-1SU`, `2SU`.
fn nth_weekday_of(value: &str) -> Option<(i8, Weekday)> {
    let (n, day) = value.split_at_checked(value.len().checked_sub(2)?)?;
    let weekday = match day.to_ascii_uppercase().as_str() {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    };
    let n: i8 = n.strip_prefix('+').unwrap_or(n).parse().ok()?;
    (n != 0 && (-5..=5).contains(&n)).then_some((n, weekday))
}

/// `+0100`, `-0500`, `+053000` in seconds.
fn utc_offset_of(value: &str) -> Option<i32> {
    let value = value.trim();
    let (sign, digits) = match value.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, value.strip_prefix('+')?),
    };
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits.get(..2)?.parse().ok()?;
    let minutes: i32 = digits.get(2..4)?.parse().ok()?;
    let seconds: i32 = digits
        .get(4..)
        .filter(|s| !s.is_empty())
        .map_or(Some(0), |s| s.parse().ok())?;
    (hours < 24 && minutes < 60 && seconds < 60)
        .then_some(sign * (hours * 3600 + minutes * 60 + seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_names_map_to_their_iana_zones() {
        for (windows, iana) in [
            ("GMT Standard Time", "Europe/London"),
            ("Greenwich Standard Time", "Atlantic/Reykjavik"),
            ("W. Europe Standard Time", "Europe/Berlin"),
            ("Romance Standard Time", "Europe/Paris"),
            ("Central Europe Standard Time", "Europe/Budapest"),
            ("Central European Standard Time", "Europe/Warsaw"),
            ("E. Europe Standard Time", "Europe/Chisinau"),
            ("FLE Standard Time", "Europe/Kiev"),
            ("GTB Standard Time", "Europe/Bucharest"),
            ("Russian Standard Time", "Europe/Moscow"),
            ("Eastern Standard Time", "America/New_York"),
            ("Central Standard Time", "America/Chicago"),
            ("Mountain Standard Time", "America/Denver"),
            ("Pacific Standard Time", "America/Los_Angeles"),
            ("US Mountain Standard Time", "America/Phoenix"),
            ("Atlantic Standard Time", "America/Halifax"),
            ("AUS Eastern Standard Time", "Australia/Sydney"),
            ("India Standard Time", "Asia/Kolkata"),
            ("China Standard Time", "Asia/Shanghai"),
            ("Tokyo Standard Time", "Asia/Tokyo"),
            ("Singapore Standard Time", "Asia/Singapore"),
            ("New Zealand Standard Time", "Pacific/Auckland"),
            ("South Africa Standard Time", "Africa/Johannesburg"),
            ("Arabian Standard Time", "Asia/Dubai"),
            ("UTC", "UTC"),
            ("Coordinated Universal Time", "UTC"),
            ("gmt standard time", "Europe/London"),
        ] {
            assert_eq!(zone(windows).map(|tz| tz.name()), Some(iana), "{windows}");
        }
        for (windows, iana) in WINDOWS_ZONES {
            assert_eq!(zone(windows).map(|tz| tz.name()), Some(*iana), "{windows}");
        }
    }

    #[test]
    fn zone_names_are_found_behind_quotes_and_prefixes() {
        for (tzid, iana) in [
            ("Europe/London", "Europe/London"),
            ("  \"Europe/London\" ", "Europe/London"),
            ("/mozilla.org/20070129_1/Europe/London", "Europe/London"),
            (
                "/softwarestudio.org/Olson_20011030_5/America/New_York",
                "America/New_York",
            ),
            (
                "/citadel.org/20190914_1/America/Argentina/Buenos_Aires",
                "America/Argentina/Buenos_Aires",
            ),
            ("europe/london", "Europe/London"),
            ("GMT", "UTC"),
            ("Z", "UTC"),
            ("Etc/UTC", "UTC"),
        ] {
            assert_eq!(zone(tzid).map(|tz| tz.name()), Some(iana), "{tzid:?}");
        }
        for unknown in [
            "",
            "\"\"",
            "/",
            "Foo",
            "Mars/Olympus_Mons",
            "Customized Time Zone",
        ] {
            assert_eq!(zone(unknown), None, "{unknown:?}");
        }
    }
}
