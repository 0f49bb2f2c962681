// Progressive enhancement only: every form works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Drag and drop onto the license file input.
  for (const zone of document.querySelectorAll("[data-dropzone]")) {
    const input = zone.querySelector("input[type=file]");
    const hint = zone.querySelector("[data-dropzone-hint]");
    if (!input) continue;
    zone.classList.add("is-enhanced");
    if (hint) hint.hidden = false;
    const showName = () => {
      if (hint && input.files.length) hint.textContent = `Selected: ${input.files[0].name}`;
    };
    input.addEventListener("change", showName);
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("is-dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("is-dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("is-dragging");
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        showName();
      }
    });
  }

  // Fill a new random instance id in the page; without script the button asks the server.
  for (const button of document.querySelectorAll("[data-generate-for]")) {
    if (!(window.crypto && crypto.randomUUID)) continue;
    button.addEventListener("click", (event) => {
      const target = document.getElementById(button.dataset.generateFor);
      if (!target) return;
      event.preventDefault();
      target.value = crypto.randomUUID();
      target.focus();
    });
  }
});
