/* Lucarne share buttons and copied-text attribution (ARCHITECTURE.md, issue 4).
   Sends only to Lucarne; no icons, no third-party requests. Keep it small. */
!function(w,d){
var s=d.currentScript,l=w.location,N=w.navigator,U=N.userAgent,E=encodeURIComponent,
 ios=/iP(hone|ad|od)/.test(U)||N.platform=="MacIntel"&&N.maxTouchPoints>1,
 mob=ios||/Android|Mobi/i.test(U),cw,tr,C;
if(!s||w.lucarneShare)return;
function A(k,e){return(e||s).getAttribute("data-"+k)}
// defaults from the tracker's tag (looked up late)
function T(k){
 tr=tr||[].filter.call(d.scripts,function(x){return x!=s&&x.hasAttribute("data-domain")})[0];
 return tr&&tr.getAttribute("data-"+k)
}
function api(){return A("api")||new URL(s.src).origin+"/api/event"}
// as the tracker: opt-out, localhost, file:, webdriver
function off(){
 try{if(localStorage.lucarne_ignore==="true")return 1}catch(e){}
 return A("allow-localhost")==null&&(l.protocol=="file:"||N.webdriver||/^localhost$|^127(\.\d+){0,2}\.\d+$|^\[::1?\]$/.test(l.hostname))
}
// token: 64 random bits in 11 base64url chars (4 in the first), never 0
function tok(){
 var a=crypto.getRandomValues(new Uint8Array(9)),t;a[0]=0;
 t=btoa(String.fromCharCode.apply(0,a)).slice(1).replace(/\+/g,"-").replace(/\//g,"_");
 return/^A+$/.test(t)?tok():t
}
// u without lc, then with #lc=t (?lc=t in query mode or over an anchor)
function link(u,t){
 u=new URL(u||l.href,l.href);
 u.search=u.search.replace(/[?&]lc=[^&]*/g,"").replace(/^&/,"?");
 if(/^#lc=/.test(u.hash))u.hash="";
 if(t)(A("lc")||T("lc"))=="query"||T("hash")!=null||u.hash?u.search+=(u.search?"&":"?")+"lc="+t:u.hash="lc="+t;
 return u.href
}
// sends event n, returns its token ("" when not tracking)
function send(n,p){
 if(off())return"";
 var t=tok(),b=JSON.stringify({n:n,u:l.href,d:A("domain")||T("domain")||l.hostname,r:null,w:w.screen.width,p:p,t:t,h:T("hash")!=null?1:void 0});
 try{if(N.sendBeacon(api(),new Blob([b],{type:"text/plain"})))return t}catch(x){}
 w.fetch&&fetch(api(),{method:"POST",keepalive:!0,body:b,headers:{"Content-Type":"text/plain"}}).catch(function(){});
 return t
}
function copy(x,done){
 function f(){
  var a=d.createElement("textarea");
  a.value=x;a.style.cssText="position:fixed;top:0;opacity:0";
  d.body.appendChild(a);a.select();
  try{d.execCommand("copy")&&done()}catch(e){}
  a.remove()
 }
 N.clipboard&&N.clipboard.writeText?N.clipboard.writeText(x).then(done,f):f()
}
// id: [label, URL ({x}: title+url; none: copy), aria-label]
C={
 whatsapp:["WhatsApp","https://wa.me/?text={x}"],
 telegram:["Telegram","https://t.me/share/url?url={u}&text={t}"],
 messenger:["Messenger",mob&&"fb-messenger://share/?link={u}"],
 signal:["Signal"],
 sms:["SMS","sms:"+(ios?"&":"?")+"body={x}","Share by SMS"],
 email:["Email","mailto:?subject={t}&body={u}","Share by email"],
 copy:["Copy link",0,"Copy link"],
 native:["Share…",0,"Share…"],
 facebook:["Facebook","https://www.facebook.com/sharer/sharer.php?u={u}"],
 x:["X","https://x.com/intent/tweet?url={u}&text={t}"],
 linkedin:["LinkedIn","https://www.linkedin.com/sharing/share-offsite/?url={u}"]
};
function click(c,id,say){
 var u=link(A("url",c),send("share",{channel:id})),t=A("title",c)||d.title,g=C[id][1],
  v={u:E(u),t:E(t),x:E(t?t+" "+u:u)};
 if(id=="native")return N.share({title:t,url:u}).catch(function(){});
 if(!g)return copy(u,function(){say(id=="copy"?"Link copied":"Link copied — paste it into "+C[id][0])});
 g=g.replace(/{(.)}/g,function(m,k){return v[k]});
 /^https:/.test(g)?w.open(g,"_blank","noopener"):l.href=g
}
function render(c){
 if(c.lucarneShare)return;
 c.lucarneShare=1;c.classList.add("lucarne-share");
 var st=d.createElement("span");
 st.setAttribute("role","status");st.setAttribute("aria-live","polite");
 (A("channels",c)||"whatsapp,telegram,messenger,signal,sms,email,copy,native,facebook,x,linkedin").split(",").forEach(function(id){
  id=id.trim();
  if(!C.hasOwnProperty(id)||id=="native"&&!N.share)return;
  var b=d.createElement("button");
  b.type="button";b.className="lucarne-share-"+id;b.textContent=C[id][0];
  b.setAttribute("aria-label",C[id][2]||"Share on "+C[id][0]);
  b.setAttribute("data-channel",id);
  b.addEventListener("click",function(){click(c,id,function(m){st.textContent="";setTimeout(function(){st.textContent=m},50)})});
  c.appendChild(b)
 });
 c.appendChild(st)
}
function all(){
 if(!d.getElementById("lucarne-share-css")){
  var y=d.createElement("style");y.id="lucarne-share-css";
  y.textContent=".lucarne-share{display:flex;flex-wrap:wrap;align-items:center;gap:var(--lucarne-share-gap,.5em);font:var(--lucarne-share-font,inherit)}.lucarne-share button{font:inherit;cursor:pointer;margin:0;padding:var(--lucarne-share-padding,.4em .9em);border:var(--lucarne-share-border,1px solid);border-radius:var(--lucarne-share-radius,.4em);background:var(--lucarne-share-bg,transparent);color:var(--lucarne-share-fg,inherit)}";
  d.head.appendChild(y)
 }
 [].forEach.call(d.querySelectorAll("[data-lucarne-share]"),render)
}
w.lucarneShare=all;
d.readyState=="loading"?d.addEventListener("DOMContentLoaded",all):all();
// copied text of >= data-copy (8) words, outside fields: + "Read more: " token link
if((cw=A("copy"))!=null)d.addEventListener("copy",function(e){
 var x=String(w.getSelection()),n=x.trim().split(/\s+/).length,el=e.target,c=e.clipboardData,u,h;
 el=el.closest?el:el.parentNode;
 if(!x.trim()||n<(+cw||8)||!c||el&&(el.isContentEditable||el.closest("input,textarea,select"))||off())return;
 u=link(0,send("copy",{words:n}));
 h=function(v){return v.replace(/[&<>"]/g,function(m){return"&#"+m.charCodeAt(0)+";"})};
 c.setData("text/plain",x+"\n\nRead more: "+u);
 c.setData("text/html",h(x).replace(/\n/g,"<br>")+"<br><br>Read more: <a href=\""+h(u)+"\">"+h(u)+"</a>");
 e.preventDefault()
})
}(window,document);
