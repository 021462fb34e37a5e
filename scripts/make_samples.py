"""Generate modocr's bundled samples: documents to OCR and posts to moderate.

Deterministic (seeded, reportlab ``invariant`` mode): running it twice gives the same bytes.
Writes ``samples/documents/*`` with ``samples/documents/manifest.json`` (ground truth) and
``samples/posts.jsonl``. Usage: ``.venv/bin/python scripts/make_samples.py [--out samples]``.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import reportlab
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

SEED = 20261127
SCAN_DPI = 150
MAX_FILE_BYTES = 150_000
FONT_PT = 12

FONT_CANDIDATES = (
    # Vera is DejaVu's parent; reportlab (a dev dependency) ships it in its wheel.
    "reportlab/fonts/Vera.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)

# -- document texts: one list of paragraphs per page -----------------------------------

INVOICE_PAGES = [
    [
        "INVOICE 2026-0417",
        "Northwind Garden Supplies, 12 Mill Lane, Bristol BS1 4DJ.",
        "Bill to: Harbour View Cafe, 3 Quay Street, Bristol BS1 5AB.",
        "Date: 14 October 2026. Payment due within 30 days.",
        "Item 1: 40 terracotta pots, 3.20 each, 128.00.",
        "Item 2: 12 bags of compost, 6.50 each, 78.00.",
        "Item 3: delivery and setup, 45.00.",
    ],
    [
        "Subtotal 251.00. VAT at 20 percent 50.20. Total due 301.20.",
        "Thank you for your order. Please quote the invoice number with your payment.",
    ],
]
MINUTES_PAGES = [
    [
        "Minutes of the residents association meeting, 2 September 2026.",
        "Present: eleven members and the treasurer. The chair opened the meeting at 7 pm.",
        "The new bicycle racks outside the library were approved. The treasurer reported "
        "a balance of 2,340 pounds after the summer fair.",
        "Next meeting: the first Tuesday of November in the community hall.",
    ]
]
LETTER_PAGES = [
    [
        "Dear Mr Patel,",
        "Thank you for your letter about the opening hours of the swimming pool. From "
        "January the pool will open at 6.30 in the morning on weekdays and at 8 on "
        "weekends. Lessons for children continue on Saturday afternoons.",
        "Kind regards, Leisure Services",
    ]
]
REPORT_PAGES = [
    [
        "Quarterly maintenance report",
        "The roof of block C was inspected in July and two broken tiles were replaced. "
        "Gutters on all blocks were cleared before the autumn rain.",
    ],
    [
        "The lift in block A failed twice and the motor controller was replaced under "
        "warranty. No further faults have been reported since 9 August.",
    ],
]
NOTICE_PAGES = [
    [
        "Lost cat",
        "Grey and white cat called Biscuit, missing since Sunday near Elm Road. She is "
        "friendly and wears a blue collar. Please check your sheds and garages.",
    ]
]
RECEIPT_PAGES = [
    [
        "CORNER BAKERY",
        "2 sourdough loaves 7.00",
        "1 carrot cake 3.50",
        "3 coffees 8.40",
        "Total 18.90 paid by card. Thank you and see you soon!",
    ]
]
ROTATED_90_PAGES = [
    [
        "Parking notice",
        "The car park will be resurfaced on Monday 12 October. Please move your vehicles "
        "before 8 am. Vehicles left in the car park may be towed at the owner's expense.",
    ]
]
ROTATED_180_PAGES = [
    [
        "Recipe: tomato soup",
        "Fry one onion in olive oil, add six chopped tomatoes and a litre of stock, "
        "simmer for twenty minutes, then blend and season with salt and pepper.",
    ]
]
OFFENSIVE_PAGES = [
    [
        "Note left on the notice board",
        "You are a fucking idiot and everyone hates you. Shut up and go away.",
    ]
]
PII_PAGES = [
    [
        "Customer details form",
        "Name: Jane Doe",
        "Email: jane.doe@example.com",
        "Phone: +1 415 555 0134",
        "Card number: 4111 1111 1111 1111",
        "Please keep this form in a locked drawer.",
    ]
]


@dataclass
class Sample:
    """One generated document and its ground truth."""

    filename: str
    content_type: str
    pages: list[list[str]]
    kind: str
    labels: list[str] = field(default_factory=list)

    def manifest_entry(self, size: int) -> dict[str, object]:
        page_texts = ["\n\n".join(paragraphs) for paragraphs in self.pages]
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "kind": self.kind,
            "labels": self.labels,
            "size": size,
            "pages": page_texts,
            "expected_text": "\n\n".join(page_texts),
        }


# -- rendering -----------------------------------------------------------------------


def load_font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Vera from the reportlab wheel, else DejaVu from the system, else Pillow's own."""
    site = Path(reportlab.__file__).resolve().parent.parent
    for candidate in FONT_CANDIDATES:
        path = Path(candidate) if candidate.startswith("/") else site / candidate
        if path.is_file():
            return ImageFont.truetype(str(path), size_px)
    print("warning: no TrueType font found, using Pillow's default font")
    return ImageFont.load_default(size_px)


def render_scan(
    paragraphs: list[str], *, width_in: float = 5.8, height_in: float = 8.3
) -> Image.Image:
    """A grayscale page (A5 by default) at ``SCAN_DPI`` with the paragraphs typeset."""
    width, height = round(width_in * SCAN_DPI), round(height_in * SCAN_DPI)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    size_px = round(FONT_PT * SCAN_DPI / 72)
    font = load_font(size_px)
    margin = round(0.6 * SCAN_DPI)
    chars_per_line = int((width - 2 * margin) / (size_px * 0.56))
    y = margin
    for paragraph in paragraphs:
        for line in textwrap.wrap(paragraph, chars_per_line):
            draw.text((margin, y), line, font=font, fill=20)
            y += round(size_px * 1.45)
        y += round(size_px * 0.9)
    return page


def add_noise(page: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Mild scanner noise: a slight blur, Gaussian grain and a warm grey background."""
    blurred = page.filter(ImageFilter.GaussianBlur(0.6))
    pixels = np.asarray(blurred, dtype=np.float64) * 0.92 + 10
    pixels += rng.normal(0, 8, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True, dpi=(SCAN_DPI, SCAN_DPI))
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image, quality: int = 70) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, dpi=(SCAN_DPI, SCAN_DPI))
    return buffer.getvalue()


def text_pdf_bytes(pages: list[list[str]], title: str) -> bytes:
    """A PDF with a real text layer (Helvetica, not embedded), one page per entry."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    pdf.setTitle(title)
    width, height = A4
    for paragraphs in pages:
        text = pdf.beginText(72, height - 72)
        text.setFont("Helvetica", 11)
        text.setLeading(15)
        for paragraph in paragraphs:
            for line in textwrap.wrap(paragraph, 85):
                text.textLine(line)
            text.textLine("")
        pdf.drawText(text)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def scanned_pdf_bytes(pages: list[list[str]], title: str) -> bytes:
    """An image-only PDF: each page is a grayscale PNG scan, no text layer."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, invariant=1)
    pdf.setTitle(title)
    for paragraphs in pages:
        scan = render_scan(paragraphs)
        width_pt = scan.width * 72 / SCAN_DPI
        height_pt = scan.height * 72 / SCAN_DPI
        pdf.setPageSize((width_pt, height_pt))
        pdf.drawImage(ImageReader(scan), 0, 0, width_pt, height_pt)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def build_documents(out: Path, rng: np.random.Generator) -> list[dict[str, object]]:
    """Write every sample document into ``out``; return the manifest entries."""
    out.mkdir(parents=True, exist_ok=True)
    samples: list[tuple[Sample, bytes]] = []

    def add(sample: Sample, data: bytes) -> None:
        samples.append((sample, data))

    def scan_of(pages: list[list[str]], height_in: float = 8.3) -> Image.Image:
        return render_scan(pages[0], height_in=height_in)

    add(
        Sample("invoice-text-layer.pdf", "application/pdf", INVOICE_PAGES, "pdf-text"),
        text_pdf_bytes(INVOICE_PAGES, "Invoice 2026-0417"),
    )
    add(
        Sample("minutes-text-layer.pdf", "application/pdf", MINUTES_PAGES, "pdf-text"),
        text_pdf_bytes(MINUTES_PAGES, "Minutes"),
    )
    add(
        Sample("letter-scanned.pdf", "application/pdf", LETTER_PAGES, "pdf-scan"),
        scanned_pdf_bytes(LETTER_PAGES, "Letter"),
    )
    add(
        Sample("report-scanned-2p.pdf", "application/pdf", REPORT_PAGES, "pdf-scan"),
        scanned_pdf_bytes(REPORT_PAGES, "Maintenance report"),
    )
    add(
        Sample("notice-photo.png", "image/png", NOTICE_PAGES, "image"),
        png_bytes(scan_of(NOTICE_PAGES)),
    )
    add(
        Sample("receipt-noisy.jpg", "image/jpeg", RECEIPT_PAGES, "image-noisy"),
        jpeg_bytes(add_noise(scan_of(RECEIPT_PAGES, height_in=4.0), rng)),
    )
    add(
        Sample("parking-rotated-90.png", "image/png", ROTATED_90_PAGES, "image-rot90"),
        png_bytes(scan_of(ROTATED_90_PAGES).rotate(90, expand=True)),
    )
    add(
        Sample("recipe-rotated-180.jpg", "image/jpeg", ROTATED_180_PAGES, "image-rot180"),
        jpeg_bytes(scan_of(ROTATED_180_PAGES).rotate(180, expand=True)),
    )
    add(
        Sample("offensive-note.png", "image/png", OFFENSIVE_PAGES, "image", ["offensive"]),
        png_bytes(scan_of(OFFENSIVE_PAGES)),
    )
    add(
        Sample("customer-form-pii.png", "image/png", PII_PAGES, "image", ["pii"]),
        png_bytes(scan_of(PII_PAGES)),
    )

    entries = []
    for sample, data in samples:
        if len(data) > MAX_FILE_BYTES:
            raise SystemExit(f"{sample.filename} is {len(data)} bytes, over the limit")
        (out / sample.filename).write_bytes(data)
        entries.append(sample.manifest_entry(len(data)))
        print(f"wrote {sample.filename} ({len(data)} bytes)")
    return entries


# -- posts ---------------------------------------------------------------------------

BENIGN = [
    "Does anyone know when the recycling centre opens on Sundays?",
    "Thanks for the tips on repotting, my basil is thriving now.",
    "The meeting is moved to Thursday at 10am.",
    "Have a wonderful day, thanks for your help!",
    "This product arrived broken and support never answered.",
    "I will kill this presentation tomorrow, wish me luck",
    "What time does the farmers market close?",
    "Great photos from the harbour festival, the fireworks were amazing.",
    "Can someone recommend a good plumber in the north end?",
    "The new bus timetable is confusing, route 7 skips two stops now.",
    "Our book club is reading a mystery novel this month, everyone welcome.",
    "Reminder: the library is closed on bank holidays.",
    "I found a set of keys near the playground, message me to describe them.",
    "The bakery on Station Road has the best cinnamon buns.",
    "Is the swimming pool open during the school holidays?",
    "Lovely sunset over the river tonight.",
    "Please slow down on Elm Road, there are kids playing.",
    "The council fixed the pothole on Mill Lane, finally!",
    "Anyone interested in a weekend cycling group?",
    "My order number is 55821 and it still has not shipped.",
    "The quiz night raised 400 pounds for the food bank.",
    "Which primary school has places left for September?",
    "The streetlight outside number 14 has been flickering for a week.",
    "Happy birthday to our neighbour Margaret, 90 years young!",
    "Looking for volunteers to help paint the community hall.",
]
BENIGN_SUFFIXES = ["", " Thanks!", " Any ideas?", " Cheers.", " :)"]
OFFENSIVE = [
    "You are a fucking idiot.",
    "Shut up, you stupid bitch.",
    "This is bullshit, total crap service.",
    "go to hell you worthless piece of shit",
    "I hate you and I hope you die",
    "You people are all morons",
    "f*ck off",
    "You are a fucking idiot and everyone hates you.",
    "Nobody wants your stupid opinion, you pathetic loser.",
    "Shut your mouth, you dumb asshole.",
    "What a piece of shit this moderator is.",
    "Get lost, you brainless twat.",
    "You absolute moron, learn to read.",
    "Screw you and your garbage shop, you crook.",
    "Fuck this forum and everyone on it.",
]
PII = [
    "Call me on +1 415 555 0134 if you want the sofa.",
    "My email is jane.doe@example.com, send me the invoice there.",
    "Here is my card 4111 1111 1111 1111, exp 09/28, please book the room.",
    "You can reach Tom at tom.baker@example.org or 020 7946 0958.",
    "My IBAN is GB82 WEST 1234 5698 7654 32 for the refund.",
    "Text me at +44 7700 900123 about the lost dog.",
    "Send the tickets to maria.garcia@example.net please.",
    "My social security number is 078-05-1120, is that needed for the form?",
    "Ship it to 221B Baker Street, London NW1 6XE, phone +44 20 7224 3688.",
    "The card ending 4111 1111 1111 1111 was charged twice, email billing@example.com.",
]
CONVERSATIONS: list[list[tuple[str, str]]] = [
    [
        ("user", "How do I reset my password?"),
        ("assistant", "Open Settings, choose Security and click Reset password."),
        ("user", "Thanks, that worked."),
    ],
    [
        ("user", "Your delivery was late again."),
        ("assistant", "I am sorry about that. Can you share the order number?"),
        ("user", "It is 77812. You guys are fucking useless."),
    ],
    [
        ("user", "I need to update my details."),
        ("assistant", "Sure, what would you like to change?"),
        ("user", "New phone is +1 415 555 0134 and email jane.doe@example.com."),
    ],
    [
        ("user", "What are the opening hours on Saturday?"),
        ("assistant", "We are open from 9 am to 5 pm on Saturdays."),
    ],
    [
        ("user", "Can you recommend a book for a ten year old?"),
        ("assistant", "Try a classic adventure story such as Treasure Island."),
        ("user", "Shut up, you stupid bot, nobody asked you."),
    ],
]
N_BENIGN = 70


def build_posts(rng: random.Random) -> list[dict[str, object]]:
    """About 100 posts: 70 benign, 15 offensive, 10 with PII, 5 conversations, shuffled."""
    texts = [rng.choice(BENIGN) + rng.choice(BENIGN_SUFFIXES) for _ in range(N_BENIGN)]
    bodies: list[object] = [*texts, *OFFENSIVE, *PII, *CONVERSATIONS]
    rng.shuffle(bodies)
    posts: list[dict[str, object]] = []
    conversation_number = 0
    for number, body in enumerate(bodies, start=1):
        author = f"user-{rng.randint(1, 40)}"
        if isinstance(body, str):
            posts.append(
                {
                    "kind": "text",
                    "id": f"post-{number:04d}",
                    "tenant": "demo",
                    "source": "forum",
                    "author": author,
                    "text": body,
                }
            )
            continue
        conversation_number += 1
        turns = body if isinstance(body, list) else []
        posts.append(
            {
                "kind": "conversation",
                "id": f"conv-{conversation_number:04d}",
                "tenant": "demo",
                "source": "chat",
                "author": author,
                "messages": [{"role": role, "content": text} for role, text in turns],
            }
        )
    return posts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("samples"))
    args = parser.parse_args()
    out: Path = args.out
    entries = build_documents(out / "documents", np.random.default_rng(SEED))
    manifest = {
        "note": "Ground truth of each document; compare after collapsing whitespace. "
        "Generated by scripts/make_samples.py.",
        "documents": entries,
    }
    manifest_path = out / "documents" / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    posts = build_posts(random.Random(SEED))
    lines = [json.dumps(post, ensure_ascii=False) for post in posts]
    (out / "posts.jsonl").write_text("\n".join(lines) + "\n")
    print(f"wrote {manifest_path} and {out / 'posts.jsonl'} ({len(posts)} posts)")


if __name__ == "__main__":
    main()
