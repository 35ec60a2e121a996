// Census console: the little behaviour htmx does not give. No inline script
// anywhere: the Content-Security-Policy allows scripts from /static/ only.
"use strict";
document.addEventListener("change", (e) => {
  const all = e.target.closest("input[data-select-all]");
  if (!all) return;
  const form = all.closest("form");
  for (const box of form.querySelectorAll("input[type=checkbox][name=id]")) box.checked = all.checked;
});
document.addEventListener("submit", (e) => {
  const button = e.submitter;
  const ask = button && button.dataset.confirm;
  if (ask && !window.confirm(ask)) e.preventDefault();
});
