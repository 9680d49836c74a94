import { h, setText } from './dom.js';
import { formatDuration } from './format.js';
import type { JobsModel, JobView } from './jobs-model.js';

interface JobElement {
  root: HTMLLIElement;
  title: HTMLSpanElement;
  status: HTMLSpanElement;
  bar: HTMLDivElement;
  fill: HTMLDivElement;
  duration: HTMLSpanElement;
  failure: HTMLParagraphElement;
  /** The name the title shows now, so it is rebuilt only when the name changes (the id never does). */
  name: string | undefined;
}

/** The jobs panel: one row per job with status, progress bar, duration and failure reason. */
export class JobsPanel {
  readonly element: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly empty: HTMLParagraphElement;
  private readonly count: HTMLSpanElement;
  private readonly elements = new Map<string, JobElement>();

  constructor(private readonly model: JobsModel) {
    this.list = h('ol', { class: 'jobs', 'aria-live': 'polite' });
    this.empty = h('p', { class: 'muted' }, 'No jobs yet. Job events (POST /api/jobs/events) appear here.');
    this.count = h('span', { class: 'badge' }, '0');
    this.element = h('aside', { class: 'jobs-panel', 'aria-labelledby': 'jobs-title' }, h('h2', { id: 'jobs-title' }, 'Jobs ', this.count), this.empty, this.list);
  }

  render(now = Date.now()): void {
    const jobs = this.model.list();
    const seen = new Set<string>();
    let previous: Element | null = null;
    for (const job of jobs) {
      seen.add(job.jobId);
      let el = this.elements.get(job.jobId);
      if (!el) {
        el = createJobElement(job.jobId);
        this.elements.set(job.jobId, el);
      }
      fillJob(el, job, now);
      // Keep DOM order = model order without moving nodes that are already in place.
      const expected: Element | null = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== el.root) this.list.insertBefore(el.root, expected);
      previous = el.root;
    }
    for (const [jobId, el] of this.elements) {
      if (!seen.has(jobId)) {
        el.root.remove();
        this.elements.delete(jobId);
      }
    }
    this.empty.hidden = jobs.length > 0;
    setText(this.count, String(jobs.length));
  }
}

/** A job's element; what depends only on the job id is set here, once. */
function createJobElement(jobId: string): JobElement {
  const title = h('span', { class: 'job-title', title: jobId }, jobId);
  const status = h('span', { class: 'job-status' });
  const fill = h('div', { class: 'fill' });
  const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-label': `${jobId} progress` }, fill);
  const duration = h('span', { class: 'job-duration' });
  const failure = h('p', { class: 'job-failure' });
  const root = h('li', { class: 'job', 'data-job-id': jobId }, h('div', { class: 'job-head' }, title, status), bar, h('div', { class: 'job-foot' }, duration), failure);
  return { root, title, status, bar, fill, duration, failure, name: undefined };
}

function fillJob(el: JobElement, job: JobView, now: number): void {
  el.root.dataset.status = job.status;
  if (el.name !== job.name) {
    el.name = job.name;
    el.title.replaceChildren(...(job.name ? [`${job.name} `, h('span', { class: 'job-id' }, job.jobId)] : [job.jobId]));
  }
  setText(el.status, job.status);
  const percent = job.progress ?? (job.finished ? 100 : 0);
  el.fill.style.width = `${percent}%`;
  el.bar.setAttribute('aria-valuenow', String(Math.round(percent)));
  el.bar.classList.toggle('indeterminate', job.progress === undefined && !job.finished);
  const ms = job.durationMs(now);
  const duration = ms === undefined ? '' : formatDuration(ms) || '0 ms';
  const progress = job.progress !== undefined && !job.finished ? ` · ${Math.round(job.progress)} %` : '';
  setText(el.duration, job.finished ? (duration ? `took ${duration}` : '') : `${duration} so far${progress}`);
  el.failure.hidden = !job.failure;
  setText(el.failure, job.failure ?? '');
}
