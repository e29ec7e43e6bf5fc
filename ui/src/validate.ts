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

/** A number for display: international format when it parses, as given otherwise. */
export function formatNumber(e164: string): string {
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

export function checkMaxCalls(text: string): CountCheck {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return { ok: false, message: "Enter a whole number from 1 to 1000." };
  const n = Number(t);
  if (n < 1 || n > 1000) return { ok: false, message: "Must be from 1 to 1000." };
  return { ok: true, value: n };
}
