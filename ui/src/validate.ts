//! Checks run as the operator types, mirroring the engine's own rules so the form says
//! what is wrong before the request is sent. The engine still has the last word.
import {
  AsYouType,
  getCountries,
  parsePhoneNumberFromString,
  validatePhoneNumberLength,
  type CountryCode,
} from "libphonenumber-js/max";

let regionNames: Intl.DisplayNames | null | undefined;

/** A region's English name ("US" → "United States"); the code itself where Intl lacks names. */
export function regionName(code: string): string {
  if (regionNames === null) return code;
  try {
    regionNames ??= new Intl.DisplayNames(["en"], { type: "region" });
    return regionNames.of(code) ?? code;
  } catch {
    regionNames = null;
    return code;
  }
}

/** Region codes libphonenumber knows, sorted by their English names. */
export function phoneRegions(): { code: string; name: string }[] {
  return getCountries()
    .map((code) => ({ code, name: regionName(code) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function asCountry(region: string | null | undefined): CountryCode | undefined {
  if (!region) return undefined;
  const upper = region.toUpperCase();
  return getCountries().find((c) => c === upper);
}

export type PhoneCheck =
  { ok: true; e164: string; display: string; region: string | null } | { ok: false; message: string };

/** Checks a phone number the way the engine will (libphonenumber's rules). */
export function checkPhoneNumber(input: string, defaultRegion: string | null | undefined): PhoneCheck {
  // 00 is the international prefix in most of the world: read it as +.
  const text = input.trim().replace(/^00/, "+");
  if (text === "") return { ok: false, message: "Enter the number in E.164 form, e.g. +14155552671." };
  if (/[^\d\s().+-]/.test(text)) {
    return {
      ok: false,
      message: "Use digits only (spaces, dashes, dots and brackets are fine), with a leading + and the country code.",
    };
  }
  if (text.indexOf("+") > 0 || (text.match(/\+/g) ?? []).length > 1) {
    return { ok: false, message: "A + may only come first, before the country code." };
  }
  const region = asCountry(defaultRegion);
  const international = text.startsWith("+");
  if (!international && !region) {
    return {
      ok: false,
      message:
        "Start with + and the country code, e.g. +14155552671. (Set a default region in Settings to type national numbers.)",
    };
  }
  const digits = text.replace(/\D/g, "").length;
  let callingCode: string | undefined;
  if (international) {
    const typed = new AsYouType();
    typed.input(text);
    callingCode = typed.getCallingCode();
  }
  const where = international
    ? callingCode
      ? `numbers with country code +${callingCode}`
      : "this country code"
    : `${regionName(region ?? "")} numbers`;
  switch (validatePhoneNumberLength(text, international ? undefined : region)) {
    case "TOO_SHORT":
      return { ok: false, message: `Too short: ${where} have more digits (${digits} typed).` };
    case "TOO_LONG":
      return { ok: false, message: `Too long: ${where} have fewer digits (${digits} typed).` };
    case "INVALID_COUNTRY":
      return international
        ? { ok: false, message: "Unknown country code after the +." }
        : { ok: false, message: "Start with + and the country code, e.g. +14155552671." };
    case "NOT_A_NUMBER":
      return { ok: false, message: "That is not a phone number." };
    case "INVALID_LENGTH":
      return { ok: false, message: `No ${where} have ${digits} digits.` };
    case undefined:
      break;
  }
  const parsed = parsePhoneNumberFromString(text, international ? undefined : region);
  if (!parsed) return { ok: false, message: "That is not a phone number." };
  const country = parsed.country ?? null;
  if (!parsed.isValid()) {
    const place = country ? regionName(country) : `country code +${parsed.countryCallingCode}`;
    return { ok: false, message: `${parsed.formatInternational()} is not a valid number for ${place}.` };
  }
  return { ok: true, e164: parsed.number, display: parsed.formatInternational(), region: country };
}

/** What a test call's `from_number` and `to_number` say: no phone number, this machine. */
export const LOCAL_NUMBER = "local";

/** A number for display: international format when it parses, as given otherwise; a test
 * call's end ("local") as this computer, never as if it were a number. */
export function formatNumber(e164: string): string {
  if (e164 === LOCAL_NUMBER) return "This computer";
  const parsed = parsePhoneNumberFromString(e164);
  return parsed ? parsed.formatInternational() : e164;
}

export type ContextCheck = { ok: true; value: Record<string, unknown> } | { ok: false; message: string };

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return "a number";
  if (typeof value === "boolean") return "a boolean";
  return typeof value;
}

/** An agent's context must be a JSON object. */
export function checkContext(text: string): ContextCheck {
  if (text.trim() === "") return { ok: false, message: "Enter a JSON object; {} means no context." };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const detail = e instanceof Error ? e.message.replace(/^JSON\.parse: /, "") : String(e);
    return { ok: false, message: `Invalid JSON: ${detail}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, message: `Context must be a JSON object ({ … }), not ${kindOf(value)}.` };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

export type UrlCheck = { ok: true; value: string | null; warning: string | null } | { ok: false; message: string };

/** The public base URL carriers call: absolute http(s), no query, fragment or credentials. */
export function checkPublicUrl(input: string): UrlCheck {
  const text = input.trim();
  if (text === "") return { ok: true, value: null, warning: null };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, message: "Not a URL: write it in full, e.g. https://abc.ngrok.app" };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { ok: false, message: "Must start with https:// (or http://)." };
  }
  if (url.hostname === "") return { ok: false, message: "The URL has no host." };
  if (url.search !== "" || url.hash !== "" || text.includes("?") || text.includes("#")) {
    return { ok: false, message: "Must not have a query (?…) or fragment (#…)." };
  }
  if (url.username !== "" || url.password !== "") {
    return { ok: false, message: "Must not contain a user name or password." };
  }
  const value = url.toString().replace(/\/+$/, "");
  const warning =
    url.protocol === "http:" ? "Carriers expect https:// in production; http:// only suits local tests." : null;
  return { ok: true, value, warning };
}

export type CountCheck = { ok: true; value: number } | { ok: false; message: string };

/** A whole number from `min` to `max` (the engine's bounds for the field). */
export function checkWhole(text: string, min: number, max: number): CountCheck {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return { ok: false, message: `Enter a whole number from ${min} to ${max}.` };
  const n = Number(t);
  if (n < min || n > max) return { ok: false, message: `Must be from ${min} to ${max}.` };
  return { ok: true, value: n };
}

/** A decimal number from `min` to `max`. */
export function checkDecimal(text: string, min: number, max: number): CountCheck {
  const t = text.trim();
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(t)) return { ok: false, message: `Enter a number from ${min} to ${max}.` };
  const n = Number(t);
  if (n < min || n > max) return { ok: false, message: `Must be between ${min} and ${max}.` };
  return { ok: true, value: n };
}

export type TextCheck = { ok: true; value: string; warning: string | null } | { ok: false; message: string };

/** A time of day as the engine reads it: `HH:MM`, 24-hour. */
export function checkTimeOfDay(text: string): TextCheck {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!m) return { ok: false, message: "Enter a time such as 09:30." };
  const [h, min] = [Number(m[1]), Number(m[2])];
  if (h > 23 || min > 59) return { ok: false, message: "Enter a time from 00:00 to 23:59." };
  return { ok: true, value: `${String(h).padStart(2, "0")}:${String(min).padStart(2, "0")}`, warning: null };
}

let zones: string[] | null = null;

/** The IANA time zones this browser knows, for suggestions. */
export function timeZones(): string[] {
  if (zones === null) {
    try {
      zones = Intl.supportedValuesOf("timeZone");
    } catch {
      zones = [];
    }
  }
  return zones;
}

/** This computer's time zone (`Europe/Paris`), or UTC when it cannot tell. */
export function localTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/**
 * An IANA time zone. The engine's time-zone database has the last word, so a name this
 * browser does not know is a warning, not an error.
 */
export function checkTimeZone(text: string): TextCheck {
  const t = text.trim();
  if (t === "") return { ok: false, message: "Enter a time zone such as America/New_York." };
  try {
    new Intl.DateTimeFormat("en", { timeZone: t });
    return { ok: true, value: t, warning: null };
  } catch {
    return {
      ok: true,
      value: t,
      warning: "This computer does not know that time zone; the engine checks it when you save.",
    };
  }
}
