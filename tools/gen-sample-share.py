#!/usr/bin/env python3
"""Regenerates cmd/docvet/sample-share: the small share `docvet demo` runs on.

Every person, address, number and company in it is invented (example.com /
example.no domains are reserved for documentation). Stdlib only, deterministic.
Run from the repo root: python3 tools/gen-sample-share.py
"""
import os, zipfile, shutil

ROOT = "cmd/docvet/sample-share"
FIXED = (2024, 1, 1, 0, 0, 0)

def wzip(path, parts):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts:
            zi = zipfile.ZipInfo(name, FIXED)
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)

def pdf(path, lines):
    # One page, Helvetica with WinAnsiEncoding so Norwegian letters work.
    def esc(s):
        b = s.encode("cp1252")
        out = b""
        for c in b:
            if c in b"()\\": out += b"\\" + bytes([c])
            elif c > 126: out += b"\\%03o" % c
            else: out += bytes([c])
        return out
    content = b"BT /F1 12 Tf 72 760 Td 16 TL\n"
    for ln in lines:
        content += b"(" + esc(ln) + b") Tj T*\n"
    content += b"ET\n"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
    ]
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for o in offs:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    open(path, "wb").write(out)

CT_DOCX = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"""
RELS_DOCX = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"""

def docx(path, paras):
    body = ""
    for runs in paras:
        if isinstance(runs, str): runs = [runs]
        body += "<w:p>" + "".join('<w:r><w:t xml:space="preserve">%s</w:t></w:r>' % r for r in runs) + "</w:p>"
    doc = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>%s</w:body></w:document>' % body)
    wzip(path, [("[Content_Types].xml", CT_DOCX), ("_rels/.rels", RELS_DOCX), ("word/document.xml", doc)])

def xlsx(path, sheetname, rows):
    strings, idx = [], {}
    def si(s):
        if s not in idx: idx[s] = len(strings); strings.append(s)
        return idx[s]
    def col(i): return chr(ord("A") + i)
    xml_rows = ""
    for r, row in enumerate(rows, 1):
        cells = ""
        for c, v in enumerate(row):
            ref = "%s%d" % (col(c), r)
            if isinstance(v, (int, float)): cells += '<c r="%s"><v>%s</v></c>' % (ref, v)
            else: cells += '<c r="%s" t="s"><v>%d</v></c>' % (ref, si(v))
        xml_rows += '<row r="%d">%s</row>' % (r, cells)
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;")
    sst = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">' % (len(strings), len(strings))
           + "".join("<si><t>%s</t></si>" % esc(s) for s in strings) + "</sst>")
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>%s</sheetData></worksheet>' % xml_rows)
    wb = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="%s" sheetId="1" r:id="rId1"/></sheets></workbook>' % sheetname)
    wbrels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    wzip(path, [("[Content_Types].xml", ct), ("_rels/.rels", rels), ("xl/workbook.xml", wb),
                ("xl/_rels/workbook.xml.rels", wbrels), ("xl/worksheets/sheet1.xml", sheet), ("xl/sharedStrings.xml", sst)])

def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    for d in ["hr/2019", "hr/2021", "finance", "support", "legal", "marketing"]:
        os.makedirs(os.path.join(ROOT, d), exist_ok=True)
    pdf(f"{ROOT}/hr/2019/contract-4711.pdf", [
        "EMPLOYMENT CONTRACT no. 4711",
        "Employer: Fjordvik Shipping AS (invented), Bryggen 1, 5003 Bergen",
        "Employee: Kari Nordmann, born 1985",
        "E-mail: kari.nordmann@example.no   Mobile: +47 912 34 567",
        "Employee number: EMP-4711-22",
        "Position: Logistics coordinator, start date 1 April 2019.",
        "Signed in Bergen by Kari Nordmann and Bjørn Ødegård (HR).",
    ])
    docx(f"{ROOT}/hr/2021/performance-review.docx", [
        "Performance review 2021",
        "Employee: Bjørn Ødegård",
        # the e-mail address is split across runs, as Word often does
        ["Contact: ", "bjorn.", "odegard", "@example.com"],
        "Phone: 0047 41234567",
        "Summary: Ødegård exceeded targets; reviewed by Kari Nordmann.",
    ])
    xlsx(f"{ROOT}/finance/invoices-2023.xlsx", "Invoices", [
        ["Invoice", "Customer", "Customer id", "E-mail", "Phone", "Amount NOK"],
        ["INV-1001", "Kari Nordmann", "CUST-100-2345", "Kari.Nordmann@Example.no", "912 34 567", 1250.5],
        ["INV-1002", "Per Olsen", "CUST-100-9876", "per.olsen@example.com", "+47 934 56 789", 980],
        ["INV-1003", "Ødegård, Bjørn", "CUST-200-1111", "bjorn.odegard@example.com", "0047 412 34 567", 15000],
    ])
    notes = ("Support notes (Windows-1252)\r\n"
             "2023-03-02 Call from Bjørn Ødegård about invoice INV-1003.\r\n"
             "2023-03-05 Sent reminder to per.olsen@example.com.\r\n")
    open(f"{ROOT}/support/notes.txt", "wb").write(notes.encode("cp1252"))
    attachment = "Kari's meter readings: 12345 kWh (customer CUST-100-2345)\n"
    import base64
    eml = ("From: Kari Nordmann <kari.nordmann@example.no>\r\n"
           "To: Support <support@fjordvik.example.com>\r\n"
           "Subject: =?UTF-8?Q?Sp=C3=B8rsm=C3=A5l_om_faktura?=\r\n"
           "Date: Tue, 14 Mar 2023 09:12:00 +0100\r\n"
           "Message-ID: <ticket-8812@example.no>\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
           "--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           "Hei, jeg lurer p=C3=A5 faktura INV-1001. Ring meg p=C3=A5 +47 912 34 567.\r\nHilsen Kari Nordmann\r\n"
           "--b1\r\nContent-Type: text/plain; charset=UTF-8; name=\"readings.txt\"\r\n"
           "Content-Disposition: attachment; filename=\"readings.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(attachment.encode()).decode().replace("\n", "\r\n") +
           "--b1--\r\n")
    open(f"{ROOT}/support/ticket-8812.eml", "w", newline="").write(eml)
    html = ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Newsletter</title>"
            "<script>var tracking = 'not text';</script><style>p{color:red}</style></head>"
            "<body><h1>Customer of the month</h1><p>Congratulations to <b>Per Olsen</b> "
            "(per.olsen@example.com)!</p></body></html>")
    open(f"{ROOT}/marketing/newsletter.html", "w").write(html)
    # A file whose extension lies: a Word document saved as .pdf.
    docx(f"{ROOT}/legal/settlement.pdf", [
        "Settlement agreement between Fjordvik Shipping AS and Per Olsen (customer CUST-100-9876).",
    ])
    open(f"{ROOT}/.hidden-cache", "w").write("hidden files are skipped\n")

main()
