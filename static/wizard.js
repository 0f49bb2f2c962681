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

  // A file or text over the limit is refused here, before it is sent: the pasted text stays.
  for (const form of document.querySelectorAll("form[data-max-bytes]")) {
    const limit = Number(form.dataset.maxBytes);
    form.addEventListener("submit", (event) => {
      const file = form.querySelector("input[type=file]");
      const text = form.querySelector("textarea");
      let size = 0;
      let field = null;
      if (file && file.files.length) {
        size = file.files[0].size;
        field = file;
      } else if (text) {
        size = new TextEncoder().encode(text.value).length;
        field = text;
      }
      if (!field || size <= limit) return;
      event.preventDefault();
      const label = field.labels.length ? field.labels[0].textContent.trim() : "This";
      let message = document.getElementById(`${field.id}-size-error`);
      if (!message) {
        message = document.createElement("p");
        message.id = `${field.id}-size-error`;
        message.className = "error-message";
        message.setAttribute("role", "alert");
        field.before(message);
      }
      const most = form.dataset.maxWords || `${limit.toLocaleString("en")} bytes`;
      message.textContent = `${label} is ${size.toLocaleString("en")} bytes, larger than the ` +
        `${most} this wizard accepts. A license is a few KB: check that it is the license.`;
      field.setAttribute("aria-invalid", "true");
      field.focus();
    });
  }

  // A form that waits on another server (Detect) says that it is asking, and is not sent twice.
  for (const form of document.querySelectorAll("form[data-busy]")) {
    form.addEventListener("submit", () => {
      const status = form.querySelector(".busy");
      if (status) status.textContent = form.dataset.busy;
      for (const button of form.querySelectorAll("button")) {
        button.setAttribute("aria-disabled", "true");
        button.classList.add("is-busy");
      }
      form.addEventListener("submit", (again) => again.preventDefault());
    });
  }

  // A moment in UTC also in the admin's own time zone (a license that expires at midnight UTC
  // expires the evening before in the Americas).
  for (const element of document.querySelectorAll("time[data-local]")) {
    const moment = new Date(element.getAttribute("datetime"));
    // Where the admin's clock reads UTC at that moment, the UTC time already says it.
    if (Number.isNaN(moment.getTime()) || moment.getTimezoneOffset() === 0) continue;
    const local = moment.toLocaleString(undefined, {
      weekday: "short", day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    });
    const note = document.createElement("span");
    note.className = "local-time";
    note.textContent = ` (${local} your time)`;
    element.after(note);
  }

  // Fill a new random instance id in the page; without script the button asks the server.
  // Either way a value already there is replaced only when the admin says so.
  for (const button of document.querySelectorAll("[data-generate-for]")) {
    if (!(window.crypto && crypto.randomUUID)) continue;
    button.addEventListener("click", (event) => {
      const target = document.getElementById(button.dataset.generateFor);
      if (!target) return;
      event.preventDefault();
      const current = target.value.trim();
      if (current && !window.confirm(`Replace the instance ID ${current} with a new one? ` +
          "A new ID makes this installation count as another one in Replicated.")) {
        return;
      }
      target.value = crypto.randomUUID();
      // The new value answers any complaint the server made about the old one.
      target.removeAttribute("aria-invalid");
      const field = target.closest(".field");
      if (field) {
        field.classList.remove("field-error");
        for (const error of field.querySelectorAll(".error-message")) error.remove();
      }
      target.focus();
    });
  }
});
