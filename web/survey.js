/* Lucarne "How did you hear about us?" survey (issue 6). Stores nothing in the browser,
   sends only to Lucarne, no innerHTML. Strict CSP: data-style="none" skips the injected
   <style>; style the .lucarne-survey* classes (and [hidden]) yourself. Keep it small. */
!function(w,d){
var s=d.currentScript,l=w.location,N=w.navigator,E=encodeURIComponent,F;
if(!s||w.lucarneSurvey)return;
function A(k){return s.getAttribute("data-"+k)}
var dom=A("domain")||l.hostname,
 // data-api: Lucarne's origin (a trailing /api/event is tolerated)
 api=(A("api")||new URL(s.src).origin).replace(/\/(api\/event)?\/*$/,"");
function el(t,c,x,p){
 var e=d.createElement(t);
 if(c)e.className="lucarne-survey"+c;
 if(x)e.textContent=x;
 p&&p.appendChild(e);
 return e
}
// lucarneSurvey(container?): renders once per container (SPAs call it again on a new page)
function go(c){
 c=c||d.querySelector(A("target")||"[data-lucarne-survey]")||F||(F=el("div"),s.parentNode==d.head?d.body.appendChild(F):s.after(F),F);
 if(c.lucarneSurvey)return;
 c.lucarneSurvey=1;
 fetch(api+"/api/survey?domain="+E(dom)+"&lang="+E(A("lang")||d.documentElement.lang||N.language||""),{credentials:"omit"})
 .then(function(r){if(r.status==200)return r.json().then(function(j){draw(c,j)})})
 .catch(function(){})
}
function draw(c,j){
 var f=el("form"),fs=el("fieldset",0,0,f),st=el("div","-status"),b,busy;
 f.className="lucarne-survey";f.lang=st.lang=j.lang||"";
 el("legend",0,j.question,fs);
 j.options.forEach(function(o){
  var q=el("label","-option",0,fs),r=el("input",0,0,q),x;
  r.type="radio";r.name="lucarne-survey";r.value=o.id;
  el("span",0,o.label,q);
  if(o.free_text){
   q=el("label","-other",0,fs);q.hidden=!0;
   el("span",0,j.other_label,q);
   x=r.x=el("input",0,0,q);
   x.type="text";x.maxLength=200;x.disabled=!0;x.autocomplete="off";x.placeholder=j.other_placeholder||""
  }
 });
 b=el("button",0,j.submit,f);b.disabled=!0;
 st.setAttribute("role","status");st.setAttribute("aria-live","polite");st.tabIndex=-1;
 // a choice enables the button and shows (only) its free-text field
 f.addEventListener("change",function(){
  b.disabled=!f.querySelector("input:checked");
  [].forEach.call(f.querySelectorAll("input[type=radio]"),function(r){if(r.x)r.x.parentNode.hidden=r.x.disabled=!r.checked})
 });
 f.addEventListener("submit",function(e){
  e.preventDefault();
  var k=f.querySelector("input:checked");
  if(busy||!k)return;
  busy=1;st.textContent="";
  // as the tracker: text/plain (no CORS preflight), no credentials; 409: answered already
  fetch(api+"/api/event",{method:"POST",credentials:"omit",keepalive:!0,headers:{"Content-Type":"text/plain"},
   body:JSON.stringify({n:"survey",u:l.href,d:dom,r:d.referrer||null,w:w.screen.width,p:{answer:k.value,text:k.x&&k.x.value.trim()||void 0}})})
  .then(function(r){
   if(!r.ok&&r.status!=409)throw 0;
   f.remove();st.textContent=j.thanks;st.focus()
  })
  .catch(function(){busy=0;setTimeout(function(){st.textContent=j.error},50)})
 });
 if(A("style")!="none"&&!d.getElementById("lucarne-survey-css")){
  var y=el("style");y.id="lucarne-survey-css";
  if(s.nonce)y.nonce=s.nonce;
  y.textContent=".lucarne-survey{color:var(--lucarne-survey-fg,inherit);max-width:var(--lucarne-survey-width,32em)}.lucarne-survey fieldset{margin:0;padding:var(--lucarne-survey-padding,1em);border:var(--lucarne-survey-border,1px solid);border-radius:var(--lucarne-survey-radius,.4em);background:var(--lucarne-survey-bg,transparent)}.lucarne-survey legend{font-weight:bold;padding:0 .3em}.lucarne-survey label{display:block;margin:.4em 0}.lucarne-survey [hidden]{display:none}.lucarne-survey input{font:inherit;accent-color:var(--lucarne-survey-accent,auto)}.lucarne-survey-other input{display:block;box-sizing:border-box;width:100%;padding:.3em}.lucarne-survey button{font:inherit;cursor:pointer;margin-top:.6em;padding:.4em 1em;border:1px solid var(--lucarne-survey-accent,currentColor);border-radius:var(--lucarne-survey-radius,.4em);background:var(--lucarne-survey-accent,transparent);color:var(--lucarne-survey-on-accent,inherit)}.lucarne-survey button:disabled{opacity:.5;cursor:default}";
  d.head.appendChild(y)
 }
 c.appendChild(f);c.appendChild(st)
}
w.lucarneSurvey=go;
d.readyState=="loading"?d.addEventListener("DOMContentLoaded",function(){go()}):go()
}(window,document);
