import PDFDocument from 'pdfkit';
import {
  ErrorCode,
  HttpError,
  sendHttpError,
  SignedLinks,
  systemFork,
  type Database,
  type Logger,
  type RouteHandler,
} from '@nexusflow/kit';
import { Invoice, type InvoiceParty } from '../entities/invoice.entity.ts';
import { formatMoney, formatPercent, type Currency } from './money.ts';

export const INVOICE_PDF_PATH = '/invoices/pdf';

interface PdfClaims {
  tenantId: string;
  invoiceId: string;
}

const isPdfClaims = (claims: unknown): claims is PdfClaims => {
  const { tenantId, invoiceId } = (claims ?? {}) as Partial<PdfClaims>;
  return typeof tenantId === 'string' && typeof invoiceId === 'string';
};

const date = (value: Date | null | undefined): string => (value ? value.toISOString().slice(0, 10) : '—');

/**
 * An invoice as a PDF (A4, the standard Helvetica font): number, dates, seller and customer, the lines with their tax,
 * and the totals. Amounts carry the currency's code rather than its symbol, which the standard fonts may not have.
 */
export async function renderInvoicePdf(invoice: Invoice): Promise<Buffer> {
  const currency: Currency = { code: invoice.currency, exponent: invoice.currencyExponent };
  const money = (minor: number) => formatMoney(minor, currency, 'code');
  const document = new PDFDocument({
    size: 'A4',
    margin: 50,
    info: {
      Title: `Invoice ${invoice.number ?? 'draft'}`,
      Author: invoice.seller.name,
      CreationDate: invoice.issuedAt ?? invoice.createdAt,
    },
  });
  const chunks: Buffer[] = [];
  document.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    document.on('end', resolve);
    document.on('error', reject);
  });

  document
    .font('Helvetica-Bold')
    .fontSize(20)
    .text(`Invoice ${invoice.number ?? '(draft)'}`);
  if (invoice.status === 'VOID') document.fillColor('#b00020').fontSize(14).text('VOID').fillColor('black');
  document.moveDown(0.5).font('Helvetica').fontSize(10);
  document.text(`Issued: ${date(invoice.issuedAt)}`);
  document.text(`Due: ${date(invoice.dueAt)}`);
  if (invoice.paidAt) document.text(`Paid: ${date(invoice.paidAt)}`);
  document.moveDown();

  const partiesTop = document.y;
  const partyBlock = (title: string, party: InvoiceParty, x: number) => {
    document.font('Helvetica-Bold').text(title, x, partiesTop, { width: 230 });
    document.font('Helvetica').text(party.name, { width: 230 });
    for (const line of [party.address, party.email, party.taxId ? `Tax ID: ${party.taxId}` : null]) {
      if (line) document.text(line, { width: 230 });
    }
    return document.y;
  };
  const bottom = Math.max(partyBlock('From', invoice.seller, 50), partyBlock('Bill to', invoice.customer, 310));
  document.y = bottom + 20;

  const columns = [
    { title: 'Description', x: 50, width: 190, align: 'left' as const },
    { title: 'Qty', x: 245, width: 40, align: 'right' as const },
    { title: 'Unit price', x: 290, width: 85, align: 'right' as const },
    { title: 'Tax', x: 380, width: 50, align: 'right' as const },
    { title: 'Amount', x: 435, width: 110, align: 'right' as const },
  ];
  const row = (cells: string[], bold = false) => {
    const top = document.y;
    document.font(bold ? 'Helvetica-Bold' : 'Helvetica');
    let lowest = top;
    cells.forEach((cell, index) => {
      const column = columns[index]!;
      document.text(cell, column.x, top, { width: column.width, align: column.align });
      lowest = Math.max(lowest, document.y);
    });
    document.y = lowest + 4;
  };
  row(
    columns.map((column) => column.title),
    true,
  );
  for (const line of invoice.lines) {
    row([
      line.description,
      String(line.quantity),
      money(line.unitPriceMinor),
      `${formatPercent(line.taxRatePpm)}%`,
      money(line.amountMinor),
    ]);
  }

  document.moveDown();
  const total = (label: string, minor: number, bold = false) => {
    const top = document.y;
    document.font(bold ? 'Helvetica-Bold' : 'Helvetica');
    document.text(label, 290, top, { width: 140, align: 'right' });
    document.text(money(minor), 435, top, { width: 110, align: 'right' });
  };
  total('Subtotal', invoice.subtotalMinor);
  total('Tax', invoice.taxMinor);
  total('Total', invoice.totalMinor, true);
  if (invoice.memo) {
    document.moveDown(2).font('Helvetica').text(invoice.memo, 50, document.y, { width: 495 });
  }
  document.end();
  await ended;
  return Buffer.concat(chunks);
}

export interface InvoicePdfLinksOptions {
  database: Database;
  /** The public origin of this service. */
  baseUrl: string;
  internalSecret: string;
  now: () => number;
  logger: Logger;
}

/** Signed, expiring links to an invoice's PDF, and the route serving them (the gateway does not proxy it). */
export class InvoicePdfLinks {
  private readonly links: SignedLinks<PdfClaims>;

  constructor(private readonly options: InvoicePdfLinksOptions) {
    this.links = new SignedLinks<PdfClaims>('invoice-pdf', options.internalSecret, options.now);
  }

  /** The link, or null for an invoice never issued (a draft, a voided draft), which has no number to print. */
  linkTo(invoice: Invoice): string | null {
    if (!invoice.number) return null;
    return this.links.linkTo(`${this.options.baseUrl.replace(/\/$/, '')}${INVOICE_PDF_PATH}`, {
      tenantId: invoice.tenantId,
      invoiceId: invoice.id,
    });
  }

  /** GET /invoices/pdf?token=…: the PDF of the link's invoice, while the link is valid. */
  route(): RouteHandler {
    return async (req, res, url) => {
      if (url.pathname !== INVOICE_PDF_PATH) return false;
      if (req.method !== 'GET') {
        sendHttpError(res, new HttpError(405, ErrorCode.BadUserInput, 'Use GET', { allow: 'GET' }));
        return true;
      }
      const claims = this.links.read(url.searchParams.get('token') ?? '', isPdfClaims);
      const invoice = claims
        ? await systemFork(this.options.database).findOne(Invoice, { id: claims.invoiceId, tenantId: claims.tenantId })
        : null;
      if (!invoice?.number) {
        sendHttpError(res, new HttpError(403, ErrorCode.Forbidden, 'The invoice link is invalid or has expired'));
        return true;
      }
      const pdf = await renderInvoicePdf(invoice);
      res.writeHead(200, {
        'content-type': 'application/pdf',
        'content-disposition': `attachment; filename="${invoice.number}.pdf"`,
        'content-length': String(pdf.length),
        'cache-control': 'no-store',
      });
      res.end(pdf);
      return true;
    };
  }
}
