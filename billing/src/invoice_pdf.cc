// PDF rendering of invoices and credit notes with libharu. Japanese text uses libharu's built-in
// Japanese CID fonts (HPDF_UseJPFonts, Shift_JIS/CP932 encoding "90ms-RKSJ-H"), so no font files
// are needed; ASCII runs (numbers, the registration number, amounts) are set in Helvetica so any
// PDF reader extracts them without CJK CMaps.
#include <hpdf.h>
#include <iconv.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "hp/billing/invoice.h"

namespace hp::billing {

namespace {

using core::ErrorCode;

void OnHpdfError(HPDF_STATUS error_no, HPDF_STATUS detail_no, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->empty())
    *out = "libharu error 0x" + [&] {
      char b[32];
      std::snprintf(b, sizeof(b), "%04X/%u", static_cast<unsigned>(error_no),
                    static_cast<unsigned>(detail_no));
      return std::string(b);
    }();
}

// UTF-8 -> CP932 (Shift_JIS as the 90ms-RKSJ CMap expects); characters CP932 lacks become '?'.
std::string ToSjis(const std::string& utf8) {
  iconv_t cd = iconv_open("CP932", "UTF-8");
  if (cd == reinterpret_cast<iconv_t>(-1)) return std::string(utf8.size(), '?');
  std::string out;
  char* in = const_cast<char*>(utf8.data());
  size_t in_left = utf8.size();
  char buf[256];
  while (in_left > 0) {
    char* o = buf;
    size_t o_left = sizeof(buf);
    size_t r = iconv(cd, &in, &in_left, &o, &o_left);
    out.append(buf, static_cast<size_t>(o - buf));
    if (r == static_cast<size_t>(-1)) {
      if (errno == E2BIG) continue;
      // Unconvertible or invalid: skip one UTF-8 character.
      out += '?';
      size_t skip = 1;
      unsigned char c = static_cast<unsigned char>(*in);
      if (c >= 0xF0) skip = 4;
      else if (c >= 0xE0) skip = 3;
      else if (c >= 0xC0) skip = 2;
      skip = std::min(skip, in_left);
      in += skip;
      in_left -= skip;
    }
  }
  iconv_close(cd);
  return out;
}

// "1,234円" style amounts (the yen sign is not in every font).
std::string Yen(core::Money m) {
  const int64_t v = m.yen();
  std::string digits = std::to_string(v < 0 ? -v : v);
  std::string g;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) g += ',';
    g += digits[i];
  }
  return (v < 0 ? "-" : "") + g + " JPY";
}

// At most `max` bytes of s, cut at a UTF-8 character boundary, with "..." when cut.
std::string Clip(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max - 3;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

class Writer {
 public:
  Writer(HPDF_Doc doc, HPDF_Font latin, HPDF_Font jp) : doc_(doc), latin_(latin), jp_(jp) {
    NewPage();
  }

  // Text at x on the current line, ASCII runs in Helvetica and the rest in the Japanese font.
  float Text(float x, const std::string& s, float size) {
    size_t i = 0;
    while (i < s.size()) {
      const bool ascii = static_cast<unsigned char>(s[i]) < 0x80;
      size_t j = i;
      while (j < s.size() && (static_cast<unsigned char>(s[j]) < 0x80) == ascii) ++j;
      const std::string run = ascii ? s.substr(i, j - i) : ToSjis(s.substr(i, j - i));
      HPDF_Page_SetFontAndSize(page_, ascii ? latin_ : jp_, size);
      HPDF_Page_BeginText(page_);
      HPDF_Page_TextOut(page_, x, y_, run.c_str());
      HPDF_Page_EndText(page_);
      x += HPDF_Page_TextWidth(page_, run.c_str());
      i = j;
    }
    return x;
  }
  float Width(const std::string& s, float size) {
    float w = 0;
    size_t i = 0;
    while (i < s.size()) {
      const bool ascii = static_cast<unsigned char>(s[i]) < 0x80;
      size_t j = i;
      while (j < s.size() && (static_cast<unsigned char>(s[j]) < 0x80) == ascii) ++j;
      const std::string run = ascii ? s.substr(i, j - i) : ToSjis(s.substr(i, j - i));
      HPDF_Page_SetFontAndSize(page_, ascii ? latin_ : jp_, size);
      w += HPDF_Page_TextWidth(page_, run.c_str());
      i = j;
    }
    return w;
  }
  void Right(float right_x, const std::string& s, float size) { Text(right_x - Width(s, size), s, size); }
  void Line(float advance) {
    y_ -= advance;
    if (y_ < 60) NewPage();
  }
  void Rule() {
    HPDF_Page_SetLineWidth(page_, 0.5);
    HPDF_Page_MoveTo(page_, 50, y_ - 4);
    HPDF_Page_LineTo(page_, 545, y_ - 4);
    HPDF_Page_Stroke(page_);
  }

 private:
  void NewPage() {
    page_ = HPDF_AddPage(doc_);
    HPDF_Page_SetSize(page_, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    y_ = HPDF_Page_GetHeight(page_) - 60;
  }
  HPDF_Doc doc_;
  HPDF_Font latin_, jp_;
  HPDF_Page page_ = nullptr;
  float y_ = 0;
};

}  // namespace

core::Result<std::string> RenderInvoicePdf(const Invoice& inv, const std::string& brand) {
  std::string error;
  std::unique_ptr<std::remove_pointer_t<HPDF_Doc>, decltype(&HPDF_Free)> doc(
      HPDF_New(OnHpdfError, &error), &HPDF_Free);
  if (!doc) return core::Fail(ErrorCode::kInternal, "libharu: cannot create a document");
  HPDF_SetCompressionMode(doc.get(), HPDF_COMP_ALL);
  HPDF_UseJPFonts(doc.get());
  HPDF_UseJPEncodings(doc.get());
  HPDF_Font jp = HPDF_GetFont(doc.get(), "MS-Gothic", "90ms-RKSJ-H");
  HPDF_Font latin = HPDF_GetFont(doc.get(), "Helvetica", nullptr);
  if (!jp || !latin || !error.empty())
    return core::Fail(ErrorCode::kInternal, "libharu: fonts unavailable: " + error);
  HPDF_SetInfoAttr(doc.get(), HPDF_INFO_TITLE, inv.number.c_str());
  // No producer brand of ours: a reseller's or OEM's customers see only the partner.

  const bool credit = inv.kind == InvoiceKind::kCreditNote;
  Writer w(doc.get(), latin, jp);
  if (!brand.empty()) {
    w.Text(50, brand, 11);
    w.Line(22);
  }
  w.Text(50, credit ? "適格返還請求書 (Credit note)" : "適格請求書 (Invoice)", 18);
  w.Line(30);
  // Issuer block (right) and recipient (left).
  w.Text(50, inv.recipient_name + " 様", 12);
  w.Right(545, inv.issuer.name, 10);
  w.Line(14);
  w.Right(545, "登録番号 " + inv.issuer.registration_number, 10);
  w.Line(14);
  w.Right(545, inv.issuer.address, 9);
  w.Line(24);
  auto field = [&](const std::string& k, const std::string& v) {
    w.Text(50, k, 10);
    w.Text(150, v, 10);
    w.Line(14);
  };
  field(credit ? "返還請求書番号" : "請求書番号", inv.number);
  field("発行日", FormatDate(inv.issue_date));
  field("対象期間", FormatDate(inv.period_start) + " - " + FormatDate(AddDays(inv.period_end, -1)));
  if (!credit) field("支払期限", FormatDate(inv.due_date));
  if (!inv.corrects_invoice_id.empty())
    field("返還対象の請求書",
          inv.corrects_invoice_number.empty() ? inv.corrects_invoice_id : inv.corrects_invoice_number);
  w.Line(10);
  // Lines.
  w.Text(50, "品目", 9);
  w.Right(360, "数量", 9);
  w.Right(430, "単価", 9);
  w.Right(505, "金額", 9);
  w.Right(545, "税率", 9);
  w.Rule();
  w.Line(16);
  bool reduced = false;
  for (const ComputedLine& l : inv.totals.lines) {
    const bool r8 = l.input.rate == TaxRate::kReduced8;
    reduced |= r8;
    const std::string desc = Clip(l.input.description, 60) + (r8 ? " ※" : "");
    w.Text(50, desc, 9);
    w.Right(360, std::to_string(l.input.quantity), 9);
    w.Right(430, Yen(l.input.unit_price), 9);
    w.Right(505, Yen(l.amount), 9);
    w.Right(545, std::to_string(TaxRatePercent(l.input.rate)) + "%", 9);
    w.Line(14);
  }
  w.Rule();
  w.Line(18);
  // Subtotal and tax per rate, then totals.
  for (const RateTotal& r : inv.totals.by_rate) {
    const std::string pct = std::to_string(TaxRatePercent(r.rate));
    w.Text(250, pct + "%対象 小計(税抜)", 10);
    w.Right(545, Yen(r.subtotal), 10);
    w.Line(14);
    w.Text(250, pct + "%対象 消費税", 10);
    w.Right(545, Yen(r.tax), 10);
    w.Line(14);
  }
  w.Line(4);
  w.Text(250, "小計(税抜)", 10);
  w.Right(545, Yen(inv.totals.subtotal), 10);
  w.Line(14);
  w.Text(250, "消費税", 10);
  w.Right(545, Yen(inv.totals.tax), 10);
  w.Line(16);
  w.Text(250, credit ? "返還額合計(税込)" : "合計(税込)", 12);
  w.Right(545, Yen(inv.totals.total), 12);
  w.Line(24);
  w.Text(50, std::string("消費税の端数処理: ") + std::string(TaxRoundingName(inv.rounding)) +
                 " (税率ごとに1回)", 8);
  w.Line(12);
  if (reduced) {
    w.Text(50, "※は軽減税率(8%)対象", 8);
    w.Line(12);
  }
  if (!inv.note.empty()) {
    w.Text(50, Clip(inv.note, 200), 8);
    w.Line(12);
  }
  if (!error.empty()) return core::Fail(ErrorCode::kInternal, "libharu: " + error);
  if (HPDF_SaveToStream(doc.get()) != HPDF_OK)
    return core::Fail(ErrorCode::kInternal, "libharu: cannot write the document: " + error);
  HPDF_UINT32 size = HPDF_GetStreamSize(doc.get());
  std::string out(size, '\0');
  HPDF_UINT32 got = size;
  HPDF_ResetStream(doc.get());
  HPDF_STATUS st = HPDF_ReadFromStream(doc.get(), reinterpret_cast<HPDF_BYTE*>(out.data()), &got);
  if ((st != HPDF_OK && st != HPDF_STREAM_EOF) || got != size)
    return core::Fail(ErrorCode::kInternal, "libharu: short read of the document");
  return out;
}

}  // namespace hp::billing
