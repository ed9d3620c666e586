import { describe, expect, it } from 'vitest';
import { loadInvoiceGenConfig } from '../src/config.ts';

describe('the invoice-gen configuration', () => {
  it('links PDFs to the port it listens on unless a public origin is given', () => {
    expect(loadInvoiceGenConfig({}).pdfBaseUrl).toBe('http://localhost:4021');
    expect(loadInvoiceGenConfig({ PORT: '24021' }).pdfBaseUrl).toBe('http://localhost:24021');
    expect(loadInvoiceGenConfig({ INVOICE_PDF_BASE_URL: 'https://billing.example.com' }).pdfBaseUrl).toBe('https://billing.example.com');
  });
});
